package cli

import (
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonText is b, JSON as encoding/json writes it, with every character
// that is not graphic written as a \u escape, and every byte that is not
// UTF-8 as \ufffd; the white space between values stays. encoding/json
// escapes the C0 controls only: a C1 control (U+009B is CSI to a
// terminal), DEL or a format character (U+202E reverses the text after it)
// that IM's users wrote in a message or a topic's name would reach the
// terminal raw, as tableCell keeps it from doing in the tables. Such a
// character can only stand in a string, where the escape is the same
// character to whatever reads the JSON.
func jsonText(b []byte) []byte {
	clean := true
	for _, c := range b {
		if c >= utf8.RuneSelf || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return b // ASCII: encoding/json escaped its controls already
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || strconv.IsGraphic(r):
			out = append(out, b[:size]...)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out
}

// jsonWriter writes what is written to it to w through jsonText. Each
// write must hold whole characters, as each of a json.Encoder's does.
type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	if _, err := j.w.Write(jsonText(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
