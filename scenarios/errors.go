package scenarios

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every ErrorList: the scenario was read
// but is not valid.
var ErrInvalid = errors.New("invalid scenario")

// ErrUnknownExample is returned by Example for a name that is not embedded.
var ErrUnknownExample = errors.New("unknown example scenario")

// FieldError is one problem in a scenario file, located by line and column
// (1-based; 0 when unknown) and by the field path, e.g.
// spec.links[0].delay.
type FieldError struct {
	File string
	Line int
	Col  int
	Path string
	Msg  string
}

// Error formats the problem as file:line:col: path: message.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, "%d:", e.Col)
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in a scenario. It is the error type
// returned by Load and LoadFile.
type ErrorList []*FieldError

// Error prints one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true for a non-empty list.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid && len(l) > 0 }

// Unwrap returns the individual problems.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// sorted orders the problems by position and drops exact repeats (a link
// setting applied to both directions is checked twice).
func (l ErrorList) sorted() ErrorList {
	seen := map[FieldError]bool{}
	out := l[:0]
	for _, e := range l {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	l = out
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
	if len(l) > maxProblems {
		rest := len(l) - maxProblems
		l = append(l[:maxProblems:maxProblems], &FieldError{File: l[0].File, Msg: fmt.Sprintf("%d more problems not shown; fix the ones above first", rest)})
	}
	return l
}

// maxProblems bounds the problems reported for one file.
const maxProblems = 200

// didYouMean returns the candidate closest to s when it is close enough to
// be a likely typo, or "".
func didYouMean(s string, candidates []string) string {
	best, bestDist := "", len(s)/3+2
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := levenshtein(ls, strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// hint appends "; did you mean X?" or the list of allowed values.
func hint(s string, allowed []string) string {
	if m := didYouMean(s, allowed); m != "" {
		return fmt.Sprintf("; did you mean %q?", m)
	}
	return "; allowed: " + strings.Join(allowed, ", ")
}
