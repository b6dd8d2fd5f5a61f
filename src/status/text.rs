//! The read side as plain text for a terminal: tables a person scans.

use std::fmt::Write as _;

use super::*;

/// A plain table: columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<String>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = width.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(&mut out, r.clone());
    }
    out
}

fn waves_text(waves: &[WaveRow]) -> String {
    if waves.len() < 2 {
        return String::new();
    }
    let done = waves.iter().filter(|w| w.state == "healthy").count();
    let parts: Vec<String> = waves
        .iter()
        .map(|w| format!("{}:{}", w.clusters.join("+"), w.state))
        .collect();
    format!("waves {done}/{} ({})", waves.len(), parts.join(", "))
}

pub fn pulls_text(pulls: &[PullRow]) -> String {
    if pulls.is_empty() {
        return "open product PRs: none\n".into();
    }
    let mut out = String::from("open product PRs:\n");
    for p in pulls {
        let changes: Vec<String> = p
            .changes
            .iter()
            .map(|c| format!("{} {} → {}", c.component, c.from, c.to))
            .collect();
        let _ = writeln!(
            out,
            "  #{} {}  risk {}{}",
            p.number,
            changes.join(", "),
            p.risk.as_deref().unwrap_or("?"),
            p.score.map(|s| format!(" ({s}/100)")).unwrap_or_default()
        );
        if !p.factors.is_empty() {
            let f: Vec<String> = p
                .factors
                .iter()
                .map(|f| format!("{} {} = {}", f.name, f.value, f.points))
                .collect();
            let _ = writeln!(out, "      factors: {}", f.join(", "));
        }
        let _ = writeln!(out, "      waits for: {}", p.waits_for.join("; "));
    }
    out
}

pub fn component_text(s: &ComponentStatus) -> String {
    let mut out = format!(
        "{} {}  ({})\n",
        s.component,
        s.version.as_deref().unwrap_or("(not released)"),
        s.repo
    );
    if let Some(f) = &s.found {
        let _ = writeln!(out, "found: {f}");
    }
    let _ = writeln!(
        out,
        "product main: {}{}   latest component tag: {}",
        s.product_main.as_deref().unwrap_or("-"),
        if s.main_carries { " (carries it)" } else { "" },
        s.latest_tag.as_deref().unwrap_or("-")
    );
    out.push('\n');
    let mut rows = Vec::new();
    for e in &s.envs {
        for (i, c) in e.clusters.iter().enumerate() {
            rows.push(vec![
                if i == 0 { e.env.clone() } else { String::new() },
                c.cluster.clone(),
                c.version.clone().unwrap_or_else(|| "-".into()),
                if c.carries { "yes" } else { "no" }.into(),
                if i == 0 {
                    e.tag.clone().unwrap_or_else(|| "-".into())
                } else {
                    String::new()
                },
                if i == 0 {
                    waves_text(&e.waves)
                } else {
                    String::new()
                },
            ]);
        }
        if e.clusters.is_empty() {
            rows.push(vec![
                e.env.clone(),
                "-".into(),
                "-".into(),
                "no".into(),
                e.tag.clone().unwrap_or_else(|| "-".into()),
                String::new(),
            ]);
        }
    }
    out.push_str(&table(
        &["ENV", "CLUSTER", "VERSION", "CARRIES", "TAG", "ROLLOUT"],
        &rows,
    ));
    out.push('\n');
    let _ = writeln!(
        out,
        "product tags carrying it: {}",
        if s.product_tags.is_empty() {
            "none".into()
        } else {
            s.product_tags.join(", ")
        }
    );
    out.push_str(&pulls_text(&s.open_prs));
    out
}

pub fn overview_text(o: &Overview) -> String {
    let mut out = format!(
        "{} @ {}\n\n",
        o.product,
        o.main_sha.get(..7).unwrap_or(&o.main_sha)
    );
    let mut header = vec!["COMPONENT".to_string(), "MAIN".to_string()];
    let mut cols: Vec<(usize, String)> = Vec::new();
    for (i, e) in o.envs.iter().enumerate() {
        for c in &e.clusters {
            cols.push((i, c.name.clone()));
            header.push(if e.clusters.len() > 1 {
                format!("{}/{}", e.name.to_uppercase(), c.name)
            } else {
                e.name.to_uppercase()
            });
        }
    }
    let rows: Vec<Vec<String>> = o
        .components
        .iter()
        .map(|(name, v)| {
            let mut r = vec![name.clone(), v.clone()];
            for (i, cluster) in &cols {
                r.push(
                    o.envs[*i]
                        .clusters
                        .iter()
                        .find(|c| &c.name == cluster)
                        .and_then(|c| c.versions.get(name).cloned())
                        .unwrap_or_else(|| "-".into()),
                );
            }
            r
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    out.push_str(&table(&h, &rows));
    out.push('\n');
    for e in &o.envs {
        let _ = writeln!(
            out,
            "{:<10} {}{}{}",
            e.name,
            e.tag.as_deref().unwrap_or("-"),
            match waves_text(&e.waves) {
                w if w.is_empty() => String::new(),
                w => format!("  {w}"),
            },
            e.frozen
                .as_ref()
                .map(|f| format!("  ❄ {}; promotions wait", f.says))
                .unwrap_or_default()
        );
    }
    out.push('\n');
    if !o.rejected.is_empty() {
        out.push_str("rejected tags (never promoted while rejected):\n");
        for r in &o.rejected {
            let _ = writeln!(
                out,
                "  {} rejected by {} on {}: {}",
                r.tag,
                r.rejected.by,
                r.rejected.at.format("%Y-%m-%d %H:%M UTC"),
                r.rejected.reason
            );
        }
        out.push('\n');
    }
    out.push_str(&pulls_text(&o.open_prs));
    out
}

pub fn releases_text(rows: &[ReleaseRow]) -> String {
    if rows.is_empty() {
        return "no product tags\n".into();
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.tag.clone(),
                match r.score {
                    Some(s) if r.provisional => format!("{s}*"),
                    Some(s) => s.to_string(),
                    None => "-".into(),
                },
                r.kpi.map(|k| k.to_string()).unwrap_or_else(|| "-".into()),
                if r.rejected.is_some() {
                    "REJECTED"
                } else if r.release {
                    "release"
                } else if r.hotfix {
                    "hotfix"
                } else {
                    "no"
                }
                .into(),
                r.age.clone(),
                if r.envs.is_empty() {
                    "-".into()
                } else {
                    r.envs.join(",")
                },
                r.headline.clone(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "TAG", "SCORE", "KPI", "RELEASE", "AGE", "RUNS ON", "CHANGES",
        ],
        &table_rows,
    );
    let scored: Vec<&ReleaseRow> = rows.iter().filter(|r| !r.parts.is_empty()).collect();
    if !scored.is_empty() {
        out.push_str("\nscore parts (points/weight):\n");
        for r in scored {
            let parts: Vec<String> = r
                .parts
                .iter()
                .map(|p| format!("{} {}/{}", p.name, p.points, p.weight))
                .collect();
            let _ = writeln!(
                out,
                "  {:<8} {}  ({} samples{})",
                r.tag,
                parts.join(", "),
                r.samples,
                if r.provisional {
                    ", still sampling"
                } else {
                    ""
                }
            );
        }
    }
    let rejected: Vec<&ReleaseRow> = rows.iter().filter(|r| r.rejected.is_some()).collect();
    if !rejected.is_empty() {
        out.push_str("\nrejected (never promoted while rejected):\n");
        for r in rejected {
            if let Some(x) = &r.rejected {
                let _ = writeln!(
                    out,
                    "  {:<8} by {} on {}: {}",
                    r.tag,
                    x.by,
                    x.at.format("%Y-%m-%d %H:%M UTC"),
                    x.reason
                );
            }
        }
    }
    if rows.iter().any(|r| r.provisional) {
        out.push_str("* provisional: the tag is still on staging\n");
    }
    out
}
