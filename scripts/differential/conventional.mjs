// Reads a JSON array of commit messages on stdin and prints, for each, how the
// reference parser reads it: conventional-commits-parser with the
// conventionalcommits preset's options (what conventional-changelog and
// conventional-recommended-bump use). Driven by tests/differential_conventional.rs.
import { CommitParser } from 'conventional-commits-parser'
import createPreset from 'conventional-changelog-conventionalcommits'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const messages = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const preset = await createPreset()
const parser = new CommitParser(preset.parser)
const read = messages.map((message) => {
  const c = parser.parse(message)
  return {
    type: c.type ?? null,
    scope: c.scope ?? null,
    subject: c.subject ?? null,
    notes: c.notes.map((n) => ({ title: n.title, text: n.text })),
    revert: c.revert ? { header: c.revert.header ?? null, hash: c.revert.hash ?? null } : null
  }
})
process.stdout.write(JSON.stringify(read))
