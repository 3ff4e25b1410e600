package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// MaxDepth is the deepest nesting of objects and arrays a callback body may
// have. Tencent's payloads nest a handful of levels; the limit keeps a body
// such as a megabyte of "[[[[…" from costing more than its own size.
const MaxDepth = 64

// Errors of ScanBody.
var (
	// ErrNotJSON reports a body that is not one valid JSON object.
	ErrNotJSON = errors.New("protocol: body is not a JSON object")
	// ErrDuplicateCommand reports a body naming CallbackCommand twice,
	// in any case and whatever the values, a null among them (decoders
	// disagree on which one counts).
	ErrDuplicateCommand = errors.New("protocol: CallbackCommand appears twice in the body")
	// ErrTooDeep reports a body nested deeper than MaxDepth.
	ErrTooDeep = errors.New("protocol: body is nested too deeply")
)

// BodyInfo is what ScanBody learns about a body in its one pass.
type BodyInfo struct {
	// Command is the top-level CallbackCommand of the body (the raw text
	// when it is not a string); HasCommand reports whether there is one.
	// A null is none, as a payload decoder reads it.
	Command    string
	HasCommand bool // whether the body has a non-null top-level CallbackCommand
}

// commandKey is the body field that names the command.
const commandKey = "CallbackCommand"

// isCommandKey reports whether the raw key (between its quotes) names
// CallbackCommand the way the payload decoder will read it: escapes
// resolved, case ignored.
func isCommandKey(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return bytes.EqualFold(raw, commandKeyBytes) // the common case, without an allocation
	}
	var key string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &key); err != nil {
		return false
	}
	return strings.EqualFold(key, commandKey)
}

// commandKeyBytes is commandKey, for comparisons without a conversion.
var commandKeyBytes = []byte(commandKey)

// The states of ScanBody's loop: what may come next.
const (
	wantValue        = iota // a value: after ':', after ',' in an array
	wantValueOrClose        // after '[': a value or ']'
	wantKey                 // after ',' in an object: a key
	wantKeyOrClose          // after '{': a key or '}'
	wantCommaOrClose        // after a value: ',', or the container's close
)

// ScanBody checks that body is exactly one JSON object, nested at most
// MaxDepth levels deep, and returns its top-level CallbackCommand. It reads
// the body once, without recursion, and allocates nothing but the command
// string: a hostile body costs no more than its length.
func ScanBody(body []byte) (BodyInfo, error) {
	var info BodyInfo
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return info, ErrNotJSON
	}
	var objects uint64 // bit d is set when the container at depth d+1 is an object
	depth := 0
	state := wantValue
	isCommand := false // the value being read is the top-level CallbackCommand
	// seenCommand: a top-level CallbackCommand key came before, whatever
	// its value (a null one included: a decoder that takes the last key
	// would read {"CallbackCommand":"A.B","callbackcommand":null} as none).
	seenCommand := false
	for {
		i = skipSpace(body, i)
		if i >= len(body) {
			return info, ErrNotJSON
		}
		c := body[i]
		switch state {
		case wantValueOrClose:
			if c == ']' {
				break // closed below
			}
			state = wantValue
			continue
		case wantKey, wantKeyOrClose:
			if c == '}' && state == wantKeyOrClose {
				break // closed below
			}
			if c != '"' {
				return info, ErrNotJSON
			}
			end, ok := scanString(body, i)
			if !ok {
				return info, ErrNotJSON
			}
			isCommand = depth == 1 && isCommandKey(body[i+1:end-1])
			if isCommand && seenCommand {
				return info, ErrDuplicateCommand
			}
			seenCommand = seenCommand || isCommand
			i = skipSpace(body, end)
			if i >= len(body) || body[i] != ':' {
				return info, ErrNotJSON
			}
			i++
			state = wantValue
			continue
		case wantCommaOrClose:
			if c == ',' {
				i++
				state = wantValue
				if objects&(1<<(depth-1)) != 0 {
					state = wantKey
				}
				continue
			}
			// c must close the current container; checked below.
		case wantValue:
			start := i
			switch {
			case c == '{' || c == '[':
				if depth == MaxDepth {
					return info, ErrTooDeep
				}
				if isCommand {
					info.Command, info.HasCommand, isCommand = string(c), true, false
				}
				if c == '{' {
					objects |= 1 << depth
					state = wantKeyOrClose
				} else {
					objects &^= 1 << depth
					state = wantValueOrClose
				}
				depth++
				i++
				continue
			case c == '"':
				end, ok := scanString(body, i)
				if !ok {
					return info, ErrNotJSON
				}
				i = end
			case c == 't':
				i = scanLiteral(body, i, "true")
			case c == 'f':
				i = scanLiteral(body, i, "false")
			case c == 'n':
				i = scanLiteral(body, i, "null")
			default:
				i = scanNumber(body, i)
			}
			if i < 0 {
				return info, ErrNotJSON
			}
			if isCommand && c != 'n' { // null names no command: a decoder leaves the field unset
				info.Command, info.HasCommand = commandText(body[start:i]), true
			}
			isCommand = false
			state = wantCommaOrClose
			continue
		}
		// Close the current container with c.
		want := byte(']')
		if objects&(1<<(depth-1)) != 0 {
			want = '}'
		}
		if c != want {
			return info, ErrNotJSON
		}
		depth--
		i++
		if depth == 0 {
			if skipSpace(body, i) != len(body) {
				return info, ErrNotJSON // something after the object
			}
			return info, nil
		}
		state = wantCommaOrClose
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index after the string starting at b[i] == '"'.
func scanString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return 0, false
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanLiteral returns the index after lit at b[i], or -1.
func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanNumber returns the index after the JSON number at b[i], or -1.
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

// commandText is the CallbackCommand value as a string: a JSON string
// unquoted, any other scalar as written.
func commandText(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return string(raw)
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw)
	}
	return s
}
