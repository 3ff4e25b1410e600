// Package plainjson writes JSON with its characters as given: '<', '>' and
// '&' stay as they are, as Tencent Cloud IM writes its callback bodies,
// where json.Marshal would escape them (\u0026). The test kit and the
// command line build bodies with it, so a handler reading the raw body
// sees the bytes IM sends.
package plainjson

import (
	"bytes"
	"encoding/json"
)

// Marshal is json.Marshal without its HTML escaping: the JSON of v,
// compact, without a trailing newline.
func Marshal(v any) ([]byte, error) {
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}
