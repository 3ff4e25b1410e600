// Package message holds the message types IM callbacks share: the MsgBody
// elements (TIMTextElem … TIMRelayElem) with their content kept as raw JSON
// and decoded on demand, the reply fields a before-send callback may return,
// and message extension entries.
package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/imcallback/imcallback/internal/lenient"
)

// MsgType values of a MsgBody element (docs/protocol.md §5.1).
const (
	TypeText      = "TIMTextElem"
	TypeLocation  = "TIMLocationElem"
	TypeFace      = "TIMFaceElem"
	TypeCustom    = "TIMCustomElem"
	TypeSound     = "TIMSoundElem"
	TypeImage     = "TIMImageElem"
	TypeFile      = "TIMFileElem"
	TypeVideoFile = "TIMVideoFileElem"
	TypeRelay     = "TIMRelayElem"
)

// ErrUnknownType is returned by Element.Decode for a MsgType this package
// does not know; the element's raw content is still available.
var ErrUnknownType = errors.New("message: unknown MsgType")

// Body is a message body: the MsgBody array.
type Body []Element

// Element is one MsgBody entry. MsgContent is kept as received so that
// unknown element types and unknown content fields survive a round trip.
type Element struct {
	// MsgType names the element type, e.g. "TIMTextElem".
	MsgType string `json:"MsgType"`
	// MsgContent is the element's content object, as received.
	MsgContent json.RawMessage `json:"MsgContent"`
}

// Text returns the concatenated text of the body's TIMTextElem elements,
// skipping elements that do not decode.
func (b Body) Text() string {
	var s string
	for _, e := range b {
		if e.MsgType != TypeText {
			continue
		}
		var t TextElem
		if json.Unmarshal(e.MsgContent, &t) == nil {
			s += t.Text
		}
	}
	return s
}

// Decode decodes MsgContent into the typed element of MsgType and returns
// a pointer to it (*TextElem, *LocationElem …), its numbers as leniently
// as a payload's (a numeric string, "" or an integral float decode to the
// number they mean). An unknown MsgType returns ErrUnknownType.
func (e Element) Decode() (any, error) {
	var v any
	switch e.MsgType {
	case TypeText:
		v = new(TextElem)
	case TypeLocation:
		v = new(LocationElem)
	case TypeFace:
		v = new(FaceElem)
	case TypeCustom:
		v = new(CustomElem)
	case TypeSound:
		v = new(SoundElem)
	case TypeImage:
		v = new(ImageElem)
	case TypeFile:
		v = new(FileElem)
	case TypeVideoFile:
		v = new(VideoFileElem)
	case TypeRelay:
		v = new(RelayElem)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, e.MsgType)
	}
	if len(e.MsgContent) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(e.MsgContent, v); err != nil {
		// A number of the content that means a value of its field's type
		// (a quoted number, 1.0 for 1, "" for 0) gets the second chance a
		// payload's fields get (docs/protocol.md §5.1).
		rewritten, ok := lenient.Body(reflect.TypeOf(v).Elem(), e.MsgContent)
		if !ok {
			return nil, fmt.Errorf("message: %s content: %w", e.MsgType, err)
		}
		retry := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := json.Unmarshal(rewritten, retry); err != nil {
			// This error names the field the second chance could not read
			// either; the first one's may name a quoted number it read.
			return nil, fmt.Errorf("message: %s content: %w", e.MsgType, err)
		}
		return retry, nil
	}
	return v, nil
}

// NewElement builds an element of content's MsgType, e.g. for a reply's
// rewritten MsgBody: NewElement(TextElem{Text: "hi"}).
func NewElement(content Content) (Element, error) {
	raw, err := json.Marshal(content)
	if err != nil {
		return Element{}, fmt.Errorf("message: %s content: %w", content.MsgType(), err)
	}
	return Element{MsgType: content.MsgType(), MsgContent: raw}, nil
}

// Content is implemented by the typed element contents.
type Content interface {
	// MsgType is the element type the content belongs to.
	MsgType() string
}

// TextElem is the content of a TIMTextElem.
type TextElem struct {
	// Text is the message text.
	Text string `json:"Text"`
}

// LocationElem is the content of a TIMLocationElem.
type LocationElem struct {
	// Desc describes the location.
	Desc string `json:"Desc"`
	// Latitude is the latitude in degrees.
	Latitude float64 `json:"Latitude"`
	// Longitude is the longitude in degrees.
	Longitude float64 `json:"Longitude"`
}

// FaceElem is the content of a TIMFaceElem (an emoji / sticker).
type FaceElem struct {
	// Index is the app-defined emoji index.
	Index int64 `json:"Index"`
	// Data is extra app-defined data.
	Data string `json:"Data"`
}

// CustomElem is the content of a TIMCustomElem.
type CustomElem struct {
	// Data is the app-defined payload.
	Data string `json:"Data"`
	// Desc is a description, shown e.g. in offline pushes.
	Desc string `json:"Desc"`
	// Ext is extra data, e.g. for the push extension.
	Ext string `json:"Ext"`
	// Sound names a custom push sound.
	Sound string `json:"Sound"`
}

// SoundElem is the content of a TIMSoundElem (a voice message).
type SoundElem struct {
	// URL is where the audio can be downloaded.
	URL string `json:"Url"`
	// UUID identifies the audio file.
	UUID string `json:"UUID"`
	// Size is the file size in bytes.
	Size int64 `json:"Size"`
	// Second is the duration in seconds.
	Second int64 `json:"Second"`
	// DownloadFlag is the download method flag (2 = by URL).
	DownloadFlag int64 `json:"Download_Flag"`
}

// ImageElem is the content of a TIMImageElem.
type ImageElem struct {
	// UUID identifies the image.
	UUID string `json:"UUID"`
	// ImageFormat is the format code (1 JPG, 2 GIF, 3 PNG, 4 BMP, 255 other).
	ImageFormat int64 `json:"ImageFormat"`
	// ImageInfoArray lists the original, large and thumbnail versions.
	ImageInfoArray []ImageInfo `json:"ImageInfoArray"`
}

// ImageInfo is one version of an image.
type ImageInfo struct {
	// Type is 1 original, 2 large, 3 thumbnail.
	Type int64 `json:"Type"`
	// Size is the size in bytes.
	Size int64 `json:"Size"`
	// Width is in pixels.
	Width int64 `json:"Width"`
	// Height is in pixels.
	Height int64 `json:"Height"`
	// URL is where this version can be downloaded.
	URL string `json:"URL"`
}

// FileElem is the content of a TIMFileElem.
type FileElem struct {
	// URL is where the file can be downloaded.
	URL string `json:"Url"`
	// UUID identifies the file.
	UUID string `json:"UUID"`
	// FileSize is the size in bytes.
	FileSize int64 `json:"FileSize"`
	// FileName is the file's name.
	FileName string `json:"FileName"`
	// DownloadFlag is the download method flag (2 = by URL).
	DownloadFlag int64 `json:"Download_Flag"`
}

// VideoFileElem is the content of a TIMVideoFileElem.
type VideoFileElem struct {
	// VideoURL is where the video can be downloaded.
	VideoURL string `json:"VideoUrl"`
	// VideoUUID identifies the video.
	VideoUUID string `json:"VideoUUID"`
	// VideoSize is the video size in bytes.
	VideoSize int64 `json:"VideoSize"`
	// VideoSecond is the duration in seconds.
	VideoSecond int64 `json:"VideoSecond"`
	// VideoFormat is the container format, e.g. "mp4".
	VideoFormat string `json:"VideoFormat"`
	// VideoDownloadFlag is the download method flag (2 = by URL).
	VideoDownloadFlag int64 `json:"VideoDownloadFlag"`
	// ThumbURL is where the thumbnail can be downloaded.
	ThumbURL string `json:"ThumbUrl"`
	// ThumbUUID identifies the thumbnail.
	ThumbUUID string `json:"ThumbUUID"`
	// ThumbSize is the thumbnail size in bytes.
	ThumbSize int64 `json:"ThumbSize"`
	// ThumbWidth is the thumbnail width in pixels.
	ThumbWidth int64 `json:"ThumbWidth"`
	// ThumbHeight is the thumbnail height in pixels.
	ThumbHeight int64 `json:"ThumbHeight"`
	// ThumbFormat is the thumbnail format, e.g. "JPG".
	ThumbFormat string `json:"ThumbFormat"`
	// ThumbDownloadFlag is the thumbnail's download method flag.
	ThumbDownloadFlag int64 `json:"ThumbDownloadFlag"`
}

// RelayElem is the content of a TIMRelayElem (merged, forwarded messages).
type RelayElem struct {
	// Title is the title of the merged message.
	Title string `json:"Title"`
	// MsgNum is how many messages were merged.
	MsgNum int64 `json:"MsgNum"`
	// CompatibleText is shown by clients that cannot render the element.
	CompatibleText string `json:"CompatibleText"`
	// AbstractList is the summary lines.
	AbstractList []string `json:"AbstractList"`
	// MsgList holds the merged messages, as received.
	MsgList json.RawMessage `json:"MsgList,omitempty"`
	// JSONMsgKey names the stored message list when it is too long to inline.
	JSONMsgKey string `json:"JsonMsgKey,omitempty"`
}

// MsgType implements Content.
func (TextElem) MsgType() string { return TypeText }

// MsgType implements Content.
func (LocationElem) MsgType() string { return TypeLocation }

// MsgType implements Content.
func (FaceElem) MsgType() string { return TypeFace }

// MsgType implements Content.
func (CustomElem) MsgType() string { return TypeCustom }

// MsgType implements Content.
func (SoundElem) MsgType() string { return TypeSound }

// MsgType implements Content.
func (ImageElem) MsgType() string { return TypeImage }

// MsgType implements Content.
func (FileElem) MsgType() string { return TypeFile }

// MsgType implements Content.
func (VideoFileElem) MsgType() string { return TypeVideoFile }

// MsgType implements Content.
func (RelayElem) MsgType() string { return TypeRelay }
