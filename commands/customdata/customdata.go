// Package customdata holds the app-defined key/value fields IM carries for
// groups and topics (UserDefinedDataList).
package customdata

// Item is one UserDefinedDataList entry.
type Item struct {
	// Key is the custom field's name, as configured in the console.
	Key string `json:"Key"`
	// Value is its value.
	Value string `json:"Value"`
}

// List is a UserDefinedDataList.
type List []Item

// Get returns the value of key and whether it is present.
func (l List) Get(key string) (string, bool) {
	for _, it := range l {
		if it.Key == key {
			return it.Value, true
		}
	}
	return "", false
}
