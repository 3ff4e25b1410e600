package message_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/commands/message"
)

func loadBody(t testing.TB) message.Body {
	t.Helper()
	raw, err := os.ReadFile("testdata/msgbody.json")
	if err != nil {
		t.Fatal(err)
	}
	var b message.Body
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeEveryElementType(t *testing.T) {
	body := loadBody(t)
	want := map[string]any{
		message.TypeText:     &message.TextElem{Text: "hello"},
		message.TypeLocation: &message.LocationElem{Desc: "trailhead", Latitude: 47.3769, Longitude: 8.5417},
		message.TypeFace:     &message.FaceElem{Index: 3, Data: "wave"},
		message.TypeCustom:   &message.CustomElem{Data: `{"kind":"poll"}`, Desc: "poll", Ext: "x", Sound: "ding.aiff"},
		message.TypeSound:    &message.SoundElem{URL: "https://files.example.org/a.m4a", UUID: "snd-1", Size: 20480, Second: 4, DownloadFlag: 2},
		message.TypeFile:     &message.FileElem{URL: "https://files.example.org/r.pdf", UUID: "file-1", FileSize: 102400, FileName: "route.pdf", DownloadFlag: 2},
	}
	for _, el := range body {
		t.Run(el.MsgType, func(t *testing.T) {
			v, err := el.Decode()
			if el.MsgType == "TIMFutureElem" {
				if !errors.Is(err, message.ErrUnknownType) || len(el.MsgContent) == 0 {
					t.Fatalf("unknown type: %v, raw content kept: %d bytes", err, len(el.MsgContent))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := v.(message.Content); !ok || c.MsgType() != el.MsgType {
				t.Fatalf("decoded %T for %s", v, el.MsgType)
			}
			if w, ok := want[el.MsgType]; ok && !reflect.DeepEqual(v, w) {
				t.Errorf("got %+v, want %+v", v, w)
			}
			switch c := v.(type) {
			case *message.ImageElem:
				if len(c.ImageInfoArray) != 2 || c.ImageInfoArray[1].Width != 198 {
					t.Errorf("image %+v", c)
				}
			case *message.VideoFileElem:
				if c.VideoSecond != 12 || c.ThumbHeight != 180 {
					t.Errorf("video %+v", c)
				}
			case *message.RelayElem:
				if c.MsgNum != 2 || len(c.AbstractList) != 2 || len(c.MsgList) == 0 {
					t.Errorf("relay %+v", c)
				}
			}
		})
	}
	if got := body.Text(); got != "hello" {
		t.Errorf("Text() = %q", got)
	}
}

func TestRoundTripKeepsRawContent(t *testing.T) {
	raw, _ := os.ReadFile("testdata/msgbody.json")
	body := loadBody(t)
	out, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal(raw, &a)
	_ = json.Unmarshal(out, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip changed the body:\n%s", out)
	}
}

func TestNewElement(t *testing.T) {
	el, err := message.NewElement(message.CustomElem{Data: "d", Desc: "badge"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := el.Decode()
	if err != nil || el.MsgType != message.TypeCustom || v.(*message.CustomElem).Desc != "badge" {
		t.Fatalf("%+v %v", el, err)
	}
	if _, err := (message.Element{MsgType: message.TypeText, MsgContent: json.RawMessage(`{"Text":7}`)}).Decode(); err == nil {
		t.Error("a wrongly typed content decoded")
	}
}

// FuzzElementDecode: decoding never panics, and a decoded element encodes
// back to an element of the same type.
func FuzzElementDecode(f *testing.F) {
	for _, el := range loadBody(f) {
		f.Add(el.MsgType, []byte(el.MsgContent))
	}
	f.Add(message.TypeText, []byte(`null`))
	f.Add(message.TypeImage, []byte(`{"ImageInfoArray":{}}`))
	f.Fuzz(func(t *testing.T, msgType string, content []byte) {
		el := message.Element{MsgType: msgType, MsgContent: content}
		v, err := el.Decode()
		if err != nil {
			return
		}
		again, err := message.NewElement(v.(message.Content))
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", v, err)
		}
		if again.MsgType != msgType {
			t.Fatalf("type %q became %q", msgType, again.MsgType)
		}
		v2, err := again.Decode()
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		a, _ := json.Marshal(v)
		b, _ := json.Marshal(v2)
		if string(a) != string(b) {
			t.Fatalf("re-decoded %s != %s", b, a)
		}
	})
}

// TestDecodeToleratesQuotedNumbers: an element's numeric fields decode as
// leniently as the rest of a payload (docs/protocol.md §5.1): a numeric
// string, "" or an integral float means the number, so one quoted Size
// does not make the element undecodable. A word where a number belongs
// still fails. Before, Decode used plain encoding/json and failed.
func TestDecodeToleratesQuotedNumbers(t *testing.T) {
	tests := []struct {
		name, msgType, content string
		want                   any
	}{
		{"quoted face index", message.TypeFace, `{"Index":"3","Data":"wave"}`, &message.FaceElem{Index: 3, Data: "wave"}},
		{"quoted sound numbers", message.TypeSound, `{"Url":"u","UUID":"s","Size":"20480","Second":"4","Download_Flag":"2"}`,
			&message.SoundElem{URL: "u", UUID: "s", Size: 20480, Second: 4, DownloadFlag: 2}},
		{"quoted coordinates", message.TypeLocation, `{"Desc":"d","Latitude":"47.3769","Longitude":"8.5417"}`,
			&message.LocationElem{Desc: "d", Latitude: 47.3769, Longitude: 8.5417}},
		{"signed coordinates", message.TypeLocation, `{"Desc":"d","Latitude":"+47.3769","Longitude":"-8.5417"}`,
			&message.LocationElem{Desc: "d", Latitude: 47.3769, Longitude: -8.5417}},
		{"quoted and float numbers inside the image list", message.TypeImage,
			`{"UUID":"i","ImageFormat":"1","ImageInfoArray":[{"Type":1,"Size":"1024","Width":198.0,"Height":""}]}`,
			&message.ImageElem{UUID: "i", ImageFormat: 1, ImageInfoArray: []message.ImageInfo{{Type: 1, Size: 1024, Width: 198}}}},
		{"numbers as sent", message.TypeFile, `{"Url":"u","UUID":"f","FileSize":102400,"FileName":"r.pdf","Download_Flag":2}`,
			&message.FileElem{URL: "u", UUID: "f", FileSize: 102400, FileName: "r.pdf", DownloadFlag: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := message.Element{MsgType: tt.msgType, MsgContent: json.RawMessage(tt.content)}.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v, tt.want) {
				t.Errorf("got %+v, want %+v", v, tt.want)
			}
		})
	}
	if _, err := (message.Element{MsgType: message.TypeSound, MsgContent: json.RawMessage(`{"Size":"big"}`)}).Decode(); err == nil {
		t.Error("a word as Size decoded")
	}
}

// TestDecodeErrorNamesTheFieldThatIsWrong: content with a quoted number,
// which the second chance reads, and a value no chance reads failed with
// the first decode's error, which named the quoted number's field, not
// the one that is wrong.
func TestDecodeErrorNamesTheFieldThatIsWrong(t *testing.T) {
	_, err := message.Element{MsgType: message.TypeFace, MsgContent: json.RawMessage(`{"Index":"3","Data":{"wave":1}}`)}.Decode()
	if err == nil || !strings.Contains(err.Error(), "FaceElem.Data") || strings.Contains(err.Error(), "FaceElem.Index") {
		t.Fatalf("error %v, want it to name FaceElem.Data, not FaceElem.Index", err)
	}
}
