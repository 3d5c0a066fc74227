package http

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pecan-judge/pecan/config"
	"github.com/pecan-judge/pecan/languages"
	"github.com/pecan-judge/pecan/messages"
	"github.com/pecan-judge/pecan/plan"
)

// sourceFields reads a submission's source from a request's fields:
// "code", one file, or "files", several — exactly one of the two — within
// lim's max_code_kib (in all) and max_files, with at least one source
// file of lang among the files. judge-single and the submission endpoint
// share it. An empty "code" counts as absent, so that clients which always
// send it may send files beside it.
func sourceFields(raw map[string]json.RawMessage, lim config.Limits, lang *languages.Language) (string, []*messages.SourceFile, error) {
	code, err := stringField(raw, "code")
	if err != nil {
		return "", nil, err
	}
	hasCode := code != nil && *code != ""
	rawFiles, hasFiles := raw["files"]
	hasFiles = hasFiles && !isNull(rawFiles)
	switch {
	case hasCode && hasFiles:
		return "", nil, errors.New(`fields "code" and "files" exclude each other: send one file as "code" or all of them as "files"`)
	case hasFiles:
		files, err := filesField(rawFiles, lim, lang)
		return "", files, err
	case code == nil:
		return "", nil, errors.New(`field "code" (or "files") is required`)
	case *code == "":
		return "", nil, errors.New(`field "code" must not be empty`)
	case int64(len(*code)) > lim.MaxCodeKiB*1024:
		return "", nil, fmt.Errorf(`field "code" is %d bytes, over the limit of %d KiB`, len(*code), lim.MaxCodeKiB)
	}
	return *code, nil, nil
}

// fileFieldKeys are the keys of a "files" entry; any other is a mistake
// worth naming (a "contents" would otherwise be an empty file).
var fileFieldKeys = map[string]bool{"name": true, "content": true, "encoding": true}

// filesField decodes and checks the "files" array.
func filesField(v json.RawMessage, lim config.Limits, lang *languages.Language) ([]*messages.SourceFile, error) {
	if v[0] != '[' {
		return nil, fmt.Errorf(`field "files" must be an array, got %s`, jsonKind(v))
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(v, &entries); err != nil {
		return nil, fmt.Errorf(`field "files": %v`, err)
	}
	if len(entries) == 0 {
		return nil, errors.New(`field "files" must not be empty`)
	}
	// Before decoding any content: a huge list is refused at once.
	if len(entries) > lim.MaxFiles {
		return nil, fmt.Errorf(`field "files" has %d files, over the limit of %d`, len(entries), lim.MaxFiles)
	}
	files := make([]*messages.SourceFile, len(entries))
	names := make([]string, len(entries))
	for i, e := range entries {
		f, err := fileEntry(i, e)
		if err != nil {
			return nil, err
		}
		files[i], names[i] = f, f.Name
	}
	if err := plan.CheckFiles(files, lim.MaxFiles, lim.MaxCodeKiB); err != nil {
		return nil, fmt.Errorf(`field "files": %v`, err)
	}
	if _, _, err := lang.Sources(names); err != nil {
		return nil, fmt.Errorf(`field "files": %v`, err)
	}
	return files, nil
}

// fileEntry decodes files[i]: {"name", "content", "encoding"}, encoding
// "utf8" (the default) or "base64".
func fileEntry(i int, v json.RawMessage) (*messages.SourceFile, error) {
	at := fmt.Sprintf("files[%d]", i)
	if isNull(v) || v[0] != '{' {
		return nil, fmt.Errorf(`field %q must be an object {"name", "content", "encoding"}, got %s`, at, jsonKind(v))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, fmt.Errorf("field %q: %v", at, err)
	}
	for k := range raw {
		if !fileFieldKeys[k] {
			return nil, fmt.Errorf(`field %q: unknown field %q (a file has "name", "content" and "encoding")`, at, k)
		}
	}
	name, err := stringFieldAs(raw, "name", at+".name")
	if err != nil {
		return nil, err
	}
	if name == nil {
		return nil, fmt.Errorf(`field "%s.name" is required`, at)
	}
	content, err := stringFieldAs(raw, "content", at+".content")
	if err != nil {
		return nil, err
	}
	if content == nil {
		return nil, fmt.Errorf(`field "%s.content" is required (it may be "")`, at)
	}
	enc, err := stringFieldAs(raw, "encoding", at+".encoding")
	if err != nil {
		return nil, err
	}
	f := &messages.SourceFile{Name: *name}
	switch {
	case enc == nil || *enc == "utf8":
		f.Content = []byte(*content)
	case *enc == "base64":
		if f.Content, err = base64.StdEncoding.DecodeString(*content); err != nil {
			return nil, fmt.Errorf(`field "%s.content" is not valid base64: %v`, at, err)
		}
	default:
		return nil, fmt.Errorf(`field "%s.encoding" must be "utf8" or "base64", got %q`, at, truncate(*enc, 40))
	}
	return f, nil
}
