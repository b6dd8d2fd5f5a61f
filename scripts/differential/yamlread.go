// Reads a JSON array of YAML texts on stdin and prints, for each, every
// scalar go-yaml v2 (the reader Helm, Argo CD and kubectl use for values)
// gets from it: one [path, type, text] per scalar and document, aliases and
// merges expanded as go-yaml expands them, or the error it gives.
// Driven by tests/differential_yaml.rs; built with
// GO111MODULE=off GOPATH=/usr/share/gocode (Debian's golang-gopkg-yaml.v2-dev).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	yaml "gopkg.in/yaml.v2"
)

type result struct {
	Docs  [][][3]string `json:"docs"`
	Error string        `json:"error,omitempty"`
}

func kind(v interface{}) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case int, int64, uint64:
		return "int"
	case float64:
		return "float"
	case time.Time:
		return "time"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func flatten(path string, v interface{}, out *[][3]string) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		keys := make([]string, 0, len(t))
		byKey := map[string]interface{}{}
		for k, item := range t {
			name := fmt.Sprint(k)
			keys = append(keys, name)
			byKey[name] = item
		}
		sort.Strings(keys)
		for _, k := range keys {
			flatten(path+"."+k, byKey[k], out)
		}
	case []interface{}:
		for i, item := range t {
			flatten(fmt.Sprintf("%s[%d]", path, i), item, out)
		}
	default:
		*out = append(*out, [3]string{path, kind(v), fmt.Sprint(v)})
	}
}

func read(text string) result {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	res := result{Docs: [][][3]string{}}
	for {
		var doc interface{}
		err := dec.Decode(&doc)
		if err == io.EOF {
			return res
		}
		if err != nil {
			return result{Error: err.Error()}
		}
		scalars := [][3]string{}
		flatten("", doc, &scalars)
		res.Docs = append(res.Docs, scalars)
	}
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var texts []string
	if err := json.Unmarshal(input, &texts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	results := make([]result, len(texts))
	for i, text := range texts {
		results[i] = read(text)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
