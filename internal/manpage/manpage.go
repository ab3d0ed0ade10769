// Package manpage writes manual pages in the man(7) macro language from a
// small document model: sections of paragraphs, tagged items and literal
// examples, with two inline marks. It is pure and writes no date, so a
// page is a function of the code that describes it, and a test can keep
// the committed pages (contrib/man/) equal to what the code says.
//
// Inline marks, in any text: `literal` is set in bold (commands, flags,
// paths, unit names) and *placeholder* in italics (NAME, FILE). A '*' that
// does not open a mark is printed as it is.
package manpage

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Page is one manual page.
type Page struct {
	Name     string // devbox-quadlet
	Section  string // "1", "8"
	Source   string // the footer's source, e.g. "devbox-quadlet"
	Manual   string // the header's manual, e.g. "User Commands"
	Comment  string // a roff comment at the top: who generated the page
	Sections []Section
}

// Section is a .SH section; its Title is conventionally upper case.
type Section struct {
	Title  string
	Blocks []Block
}

// Block is one element of a section: Para, Item, Lines, Example or Sub.
type Block interface {
	render(b *strings.Builder)
}

// Para is a filled paragraph. Line breaks in it are spaces, so text written
// for an 80-column --help reads as one paragraph here.
type Para string

// Item is a tagged paragraph (.TP): a flag, a command, a file. Its Text is
// one or more paragraphs; Items nest below it (a command's flags).
type Item struct {
	Tag   string
	Text  []string
	Items []Item
}

// Lines are lines kept as they are, with inline marks (a synopsis).
type Lines []string

// Example is verbatim text, indented, without inline marks.
type Example string

// Sub is a subsection heading (.SS).
type Sub string

// Render returns the page's source.
func Render(p Page) []byte {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(p.Comment), "\n") {
		if line != "" {
			fmt.Fprintf(&b, ".\\\" %s\n", escape(line))
		}
	}
	fmt.Fprintf(&b, ".TH %s %s \"\" %s %s\n", quote(strings.ToUpper(p.Name)), quote(p.Section), quote(p.Source), quote(p.Manual))
	// No hyphenation and a ragged right margin: unit names and paths such
	// as devbox-NAME.service must not be split, nor spread out.
	b.WriteString(".nh\n.ad l\n")
	for _, s := range p.Sections {
		fmt.Fprintf(&b, ".SH %s\n", quote(s.Title))
		for _, blk := range s.Blocks {
			blk.render(&b)
		}
	}
	return []byte(b.String())
}

func (p Para) render(b *strings.Builder) {
	b.WriteString(".PP\n")
	textLine(b, inline(string(p)))
}

func (it Item) render(b *strings.Builder) {
	b.WriteString(".TP\n")
	textLine(b, inline(it.Tag))
	for i, para := range it.Text {
		if i > 0 {
			b.WriteString(".IP\n")
		}
		textLine(b, inline(para))
	}
	if len(it.Items) > 0 {
		b.WriteString(".RS\n")
		for _, sub := range it.Items {
			sub.render(b)
		}
		b.WriteString(".RE\n")
	}
}

func (l Lines) render(b *strings.Builder) {
	b.WriteString(".nf\n")
	for _, line := range l {
		textLine(b, inline(line))
	}
	b.WriteString(".fi\n")
}

func (e Example) render(b *strings.Builder) {
	b.WriteString(".PP\n.RS 4\n.nf\n")
	for _, line := range strings.Split(strings.TrimRight(string(e), "\n"), "\n") {
		textLine(b, escape(line))
	}
	b.WriteString(".fi\n.RE\n")
}

func (s Sub) render(b *strings.Builder) {
	fmt.Fprintf(b, ".SS %s\n", quote(string(s)))
}

// textLine writes roff text as one input line. A line that would start with
// a control character (a dot or an apostrophe) is protected with \&, and a leading
// space, which would break the line, is dropped.
func textLine(b *strings.Builder, s string) {
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		b.WriteString(`\&`)
	}
	b.WriteString(s)
	b.WriteByte('\n')
}

// quote makes s one argument of a macro line.
func quote(s string) string {
	return `"` + strings.ReplaceAll(escape(s), `"`, `\(dq`) + `"`
}

// inline escapes s and turns its marks into font changes.
func inline(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case s[0] == '`':
			if end := strings.IndexByte(s[1:], '`'); end >= 0 {
				b.WriteString(`\fB` + escape(s[1:1+end]) + `\fR`)
				s = s[2+end:]
				continue
			}
			b.WriteString(`\(ga`)
		case s[0] == '*':
			if word, ok := placeholder(s); ok {
				b.WriteString(`\fI` + escape(word) + `\fR`)
				s = s[len(word)+2:]
				continue
			}
			b.WriteString("*")
		default:
			next := strings.IndexAny(s, "`*")
			if next < 0 {
				next = len(s)
			}
			b.WriteString(escape(s[:next]))
			s = s[next:]
			continue
		}
		s = s[1:]
	}
	return b.String()
}

// placeholder reports whether s starts with *word*: a word without spaces
// or asterisks between two asterisks.
func placeholder(s string) (string, bool) {
	end := strings.IndexByte(s[1:], '*')
	if end <= 0 {
		return "", false
	}
	word := s[1 : 1+end]
	if strings.ContainsAny(word, " \t\n") {
		return "", false
	}
	return word, true
}

// longWord is the length past which a word may break after a '/': a path
// that long would run past the margin, as hyphenation is off.
const longWord = 40

// escape makes s plain roff text: a backslash is printed, not an escape;
// every '-' is a minus, so flags and unit names copy as typed; line
// breaks and tabs are spaces; a long path may break after a '/'; and
// anything outside ASCII is named by its code point, which every formatter
// reads whatever the input encoding.
func escape(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		n := strings.IndexAny(s, " \t\r\n")
		if n < 0 {
			n = len(s)
		}
		escapeWord(&b, s[:n], n > longWord)
		if n < len(s) {
			b.WriteByte(' ')
			n++
		}
		s = s[n:]
	}
	return b.String()
}

func escapeWord(b *strings.Builder, word string, long bool) {
	for _, r := range word {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '/' && long:
			b.WriteString(`/\:`)
		case r > 0x7e || r < 0x20:
			fmt.Fprintf(b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
}

// Sentence makes a usage fragment ("print JSON") a sentence: a capital and
// a full stop.
func Sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, size := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[size:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// Placeholders marks up a path as an item's tag: the path literal, and
// each of words in it a placeholder ("~/.config/devbox-NAME.container").
func Placeholders(path string, words ...string) string {
	s := "`" + path + "`"
	for _, w := range words {
		s = strings.ReplaceAll(s, w, "`*"+w+"*`")
	}
	return strings.ReplaceAll(s, "``", "")
}
