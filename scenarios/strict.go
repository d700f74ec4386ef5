package scenarios

import (
	"fmt"
	"reflect"
	"strings"
)

// Locator collects the problems of a file decoded by DecodeStrict, each
// located by line, column and field path.
type Locator struct{ d *decoder }

// DecodeStrict decodes one YAML document into v (a pointer to a struct
// with yaml tags; `es:"required"` marks required fields, a yaml.Node field
// keeps its node raw) the way scenario files are decoded: unknown or
// duplicate fields, wrong kinds and malformed values are all collected with
// line:col and field path. Other file kinds (plan files) use it to read
// like scenarios. Call Errorf for the caller's own checks and Err at the
// end.
func DecodeStrict(name string, data []byte, v any) *Locator {
	d := newDecoder(name)
	l := &Locator{d: d}
	if len(data) > maxFileSize {
		d.errs = append(d.errs, &FieldError{File: name, Msg: fmt.Sprintf("file is %d bytes; the limit is %d", len(data), maxFileSize)})
		return l
	}
	root := d.parse(data)
	if root == nil {
		return l
	}
	d.decode(root, reflect.ValueOf(v).Elem(), "")
	return l
}

// Errorf records a problem at a field path (located at the path or its
// nearest ancestor with a position). A problem under a path whose value
// could not be decoded is not repeated.
func (l *Locator) Errorf(path, format string, args ...any) {
	c := &converter{d: l.d}
	c.errorf(path, format, args...)
}

// Add records problems found elsewhere (a scenario read inside the file).
func (l *Locator) Add(errs ...*FieldError) { l.d.errs = append(l.d.errs, errs...) }

// Decoded reports whether the document decoded to something to check: false
// when it could not be parsed at all.
func (l *Locator) Decoded() bool { return len(l.d.pos) > 0 }

// Err returns every problem recorded, sorted by position, or nil.
func (l *Locator) Err() error {
	if len(l.d.errs) == 0 {
		return nil
	}
	return l.d.errs.sorted()
}

// WithPathPrefix returns the list with prefix before every field path, for
// a document read inside another (an inline scenario of a plan file).
func (l ErrorList) WithPathPrefix(prefix string) ErrorList {
	out := make(ErrorList, len(l))
	for i, e := range l {
		c := *e
		if c.Path != "" {
			c.Path = prefix + "." + c.Path
		} else if !strings.HasPrefix(c.Msg, prefix) {
			c.Path = prefix
		}
		out[i] = &c
	}
	return out
}
