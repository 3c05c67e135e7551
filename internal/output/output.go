// Package output renders what layerq's commands return: one printer for
// every report, as a table for people or as JSON or CSV for scripts.
//
// A report is a value that marshals to JSON (snake_case keys, stable) and
// implements Table. Its columns are named by the JSON keys of the values
// they show, so a CSV header is the JSON key of its column. Cells are plain
// values; Bytes cells print as exact integers in JSON and CSV and in IEC
// units in tables, Ratio cells as fractions (0 to 1) in JSON and CSV and as
// percentages in tables.
//
// Tables fit the terminal they print to: digests shortened to 12 hex digits
// (as docker images prints them), long text cut to the width, the last
// column's advice wrapped. Printed anywhere else (a pipe, a file), a table
// shows every value whole, so grep and awk see what the database holds.
package output

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/clipperhouse/displaywidth"
	"golang.org/x/term"
)

// Format is an output format.
type Format string

// The formats.
const (
	TableFormat Format = "table"
	// WideFormat is a table with every column and every value whole.
	WideFormat Format = "wide"
	JSONFormat Format = "json"
	CSVFormat  Format = "csv"
)

// ParseFormat checks a --output value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case TableFormat, WideFormat, JSONFormat, CSVFormat:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q: use table, wide, json or csv", s)
}

// Column is one column of a report's rows.
type Column struct {
	// Key is the column's CSV header: the JSON key of the value it shows.
	Key string
	// Title is its table header; empty: Key in capitals, "_" as a space.
	Title string
	// Wide columns show in CSV and in wide tables only.
	Wide bool
}

// Cols is columns named by their keys alone.
func Cols(keys ...string) []Column {
	out := make([]Column, len(keys))
	for i, k := range keys {
		out[i] = Column{Key: k}
	}
	return out
}

func (c Column) title() string {
	if c.Title != "" {
		return c.Title
	}
	return strings.ReplaceAll(strings.ToUpper(c.Key), "_", " ")
}

// Table is a report that renders as rows.
type Table interface {
	// Columns names the columns, in order.
	Columns() []Column
	// Rows returns the cells, one slice per row, in column order.
	Rows() [][]any
}

// Grouped is optionally implemented by a Table whose table for people is
// laid out differently from its records: bloat shows each image's findings
// under a summary line of the image, while CSV has one whole record per
// finding.
type Grouped interface {
	TableColumns() []Column
	TableRows() [][]any
}

// Preamble is optionally implemented by a Table that shows a few lines of
// context above its rows (table format only).
type Preamble interface {
	Preamble() []string
}

// Empty is optionally implemented by a Table to say in one line, in the
// table format, that it has no rows, and why that may be.
type Empty interface {
	Empty() string
}

// Bytes is a byte count.
type Bytes int64

// String renders b in IEC units: 512 B, 1.5 KiB, 3.2 GiB.
func (b Bytes) String() string {
	const unit = 1024
	if b < unit && b > -unit {
		return fmt.Sprintf("%d B", int64(b))
	}
	v, exp := float64(b), 0
	for v >= unit*unit || v <= -unit*unit {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v/unit, "KMGTPE"[exp])
}

// Ratio is a fraction from 0 to 1.
type Ratio float64

// String renders r as a percentage to one decimal, as tables show it; a
// ratio under 1 never shows as 100%.
func (r Ratio) String() string {
	p := strconv.FormatFloat(float64(r)*100, 'f', 1, 64)
	if p == "100.0" && r < 1 {
		p = "99.9"
	}
	return p + "%"
}

// Digest is a content digest: tables on a terminal show its first 12 hex
// digits, everything else the whole digest.
type Digest string

// ShortDigest is the hex digits a terminal table shows of a digest.
const ShortDigest = 12

// Short is d as a terminal table shows it: the first 12 hex digits, without
// the algorithm.
func (d Digest) Short() string {
	_, hex, ok := strings.Cut(string(d), ":")
	if !ok {
		hex = string(d)
	}
	if len(hex) > ShortDigest {
		hex = hex[:ShortDigest]
	}
	return hex
}

// Whole is a text cell that tables never cut: advice, say. On a terminal,
// in the last column, it wraps at the terminal's width.
type Whole string

// Note is a cell a table prints on its own lines under its row, indented
// (and wrapped at a terminal's width), rather than in a column: advice too
// long for one. CSV has it in its column.
type Note string

// noteIndent is how far a note is indented under its row.
const noteIndent = 4

// Options say how to print.
type Options struct {
	Format Format
	// Width is the terminal's width in columns when the output is a
	// terminal; 0 when it is not (a pipe, a file): tables then print every
	// value whole.
	Width int
	// NoTrunc prints every value whole on a terminal too.
	NoTrunc bool
}

// Print renders report as opts say.
func Print(w io.Writer, opts Options, report Table) error {
	switch opts.Format {
	case JSONFormat:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // "&&" in a fix stays readable
		return enc.Encode(report)
	case CSVFormat:
		cw := csv.NewWriter(w)
		cols := report.Columns()
		head := make([]string, len(cols))
		for i, c := range cols {
			head[i] = c.Key
		}
		if err := cw.Write(head); err != nil {
			return err
		}
		for _, row := range report.Rows() {
			rec := make([]string, len(row))
			for i, c := range row {
				rec[i] = record(c)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	default:
		return printTable(w, opts, report)
	}
}

func printTable(w io.Writer, opts Options, report Table) error {
	wide := opts.Format == WideFormat
	terminal := opts.Width > 0 && !opts.NoTrunc && !wide
	var lines []string
	if p, ok := report.(Preamble); ok {
		for _, l := range p.Preamble() {
			if terminal { // prose: wrapped at the terminal's width
				lines = append(lines, wrapText(l, opts.Width)...)
			} else {
				lines = append(lines, l)
			}
		}
	}
	cols, rows := report.Columns(), report.Rows()
	if g, ok := report.(Grouped); ok {
		cols, rows = g.TableColumns(), g.TableRows()
	}
	if len(rows) == 0 {
		if e, ok := report.(Empty); ok {
			lines = append(lines, e.Empty())
		} else {
			lines = append(lines, "nothing to show")
		}
		return writeLines(w, lines)
	}
	// Columns of notes print under their rows, not as columns.
	note := map[int]bool{}
	for _, row := range rows {
		for i, c := range row {
			if _, ok := c.(Note); ok {
				note[i] = true
			}
		}
	}
	var keep, notes []int
	for i, c := range cols {
		switch {
		case note[i]:
			notes = append(notes, i)
		case wide || !c.Wide:
			keep = append(keep, i)
		}
	}
	grid := make([][]string, 0, len(rows)+1)
	head := make([]string, len(keep))
	for j, i := range keep {
		head[j] = cols[i].title()
	}
	grid = append(grid, head)
	whole := make([]bool, len(keep)) // columns that wrap rather than cut
	text := make([]bool, len(keep))  // columns that may be cut
	for _, row := range rows {
		rec := make([]string, len(keep))
		for j, i := range keep {
			var c any
			if i < len(row) {
				c = row[i]
			}
			switch c.(type) {
			case Whole:
				whole[j] = true
			case string, []string, fmt.Stringer:
				if _, ok := c.(Bytes); !ok {
					text[j] = true
				}
			}
			rec[j] = human(c, terminal)
		}
		grid = append(grid, rec)
	}
	widths := make([]int, len(keep))
	for _, rec := range grid {
		for j, s := range rec {
			widths[j] = max(widths[j], displaywidth.String(s))
		}
	}
	wrap := -1 // a last column of advice wraps instead of being cut
	if terminal {
		if last := len(keep) - 1; last >= 0 && whole[last] {
			wrap = last
		}
		fit(widths, grid[0], text, wrap, opts.Width)
	}
	for r, rec := range grid {
		var b strings.Builder
		indent := 0
		for j, s := range rec {
			last := j == len(rec)-1
			if j == wrap && r > 0 {
				parts := wrapText(s, widths[j])
				b.WriteString(parts[0])
				for _, p := range parts[1:] {
					b.WriteString("\n" + strings.Repeat(" ", indent) + p)
				}
				continue
			}
			if displaywidth.String(s) > widths[j] {
				s = displaywidth.TruncateString(s, widths[j], "…")
			}
			if last {
				b.WriteString(s)
				continue
			}
			b.WriteString(s + strings.Repeat(" ", max(0, widths[j]-displaywidth.String(s))) + "  ")
			indent += widths[j] + 2
		}
		lines = append(lines, strings.TrimRight(b.String(), " "))
		if r == 0 {
			continue
		}
		for _, i := range notes {
			if i >= len(rows[r-1]) {
				continue
			}
			n, _ := rows[r-1][i].(Note)
			if n == "" {
				continue
			}
			text := []string{oneLine(string(n))}
			if terminal {
				text = wrapText(text[0], max(opts.Width-noteIndent, 20))
			}
			for _, t := range text {
				lines = append(lines, strings.Repeat(" ", noteIndent)+t)
			}
		}
	}
	return writeLines(w, lines)
}

// minCut is the narrowest a cut column gets, "…" included.
const minCut = 8

// fit narrows the text columns of widths so the rows fit in width: the
// widest first, none under its header or minCut; digests and figures are
// never cut. A column of wrapped advice takes what is left, at least a
// third of the width.
func fit(widths []int, head []string, text []bool, wrap, width int) {
	total := func() int {
		n := 2 * (len(widths) - 1)
		for _, w := range widths {
			n += w
		}
		return n
	}
	if wrap >= 0 {
		widths[wrap] = max(displaywidth.String(head[wrap]), width/3, min(widths[wrap], width-(total()-widths[wrap])))
	}
	for total() > width {
		widest := -1
		for j, w := range widths {
			if j == wrap || !text[j] || w <= max(minCut, displaywidth.String(head[j])) {
				continue
			}
			if widest < 0 || w > widths[widest] {
				widest = j
			}
		}
		if widest < 0 {
			return // as narrow as the columns go: the terminal wraps the rest
		}
		widths[widest]--
	}
}

// wrapText breaks s into lines of at most width columns, at spaces where it
// can.
func wrapText(s string, width int) []string {
	width = max(width, 1)
	var out []string
	for displaywidth.String(s) > width {
		cut := displaywidth.TruncateString(s, width, "")
		if i := strings.LastIndexByte(cut, ' '); i > 0 {
			cut = cut[:i]
		}
		out = append(out, cut)
		s = strings.TrimLeft(s[len(cut):], " ")
	}
	return append(out, s)
}

func writeLines(w io.Writer, lines []string) error {
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// human renders a cell for a table; short shortens digests for a terminal.
// Text is put on one line: tabs and line breaks become spaces.
func human(v any, short bool) string {
	switch c := v.(type) {
	case Bytes:
		return c.String()
	case Ratio:
		return c.String()
	case time.Time, *time.Time:
		return record(c)
	case bool:
		if c {
			return "yes"
		}
		return "no"
	case Digest:
		if short {
			return c.Short()
		}
		return string(c)
	case []Digest:
		parts := make([]string, len(c))
		for i, d := range c {
			parts[i] = human(d, short)
		}
		return strings.Join(parts, ",")
	case []string:
		return oneLine(strings.Join(c, ", "))
	case string:
		return oneLine(c)
	case Whole:
		return oneLine(string(c))
	case fmt.Stringer:
		return oneLine(c.String())
	}
	return record(v)
}

// Recorder is a cell with a form of its own for CSV; a list of objects,
// say, is its JSON.
type Recorder interface {
	Record() string
}

// record renders a cell for CSV: whole, exact, as JSON would say it.
func record(v any) string {
	switch c := v.(type) {
	case nil:
		return ""
	case Bytes:
		return strconv.FormatInt(int64(c), 10)
	case Ratio:
		return strconv.FormatFloat(float64(c), 'f', 4, 64)
	case *time.Time:
		if c == nil {
			return ""
		}
		return c.UTC().Format(time.RFC3339)
	case time.Time:
		return c.UTC().Format(time.RFC3339)
	case *int:
		if c == nil {
			return ""
		}
		return strconv.Itoa(*c)
	case *int64:
		if c == nil {
			return ""
		}
		return strconv.FormatInt(*c, 10)
	case []string:
		return strings.Join(c, ",")
	case []Digest:
		parts := make([]string, len(c))
		for i, d := range c {
			parts[i] = string(d)
		}
		return strings.Join(parts, ",")
	case float64:
		return strconv.FormatFloat(c, 'f', -1, 64)
	case string:
		return c
	case Digest:
		return string(c)
	case Whole:
		return string(c)
	case Note:
		return string(c)
	case Recorder:
		return c.Record()
	default:
		return fmt.Sprint(c)
	}
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\t\n\r") && !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// Truncate shortens s to at most n runes, ending in "…", on one line: for
// text inside a sentence (a preamble line), not for table cells, which
// the printer fits to the terminal.
func Truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// TerminalWidth is the width of the terminal w writes to, for
// Options.Width: the COLUMNS environment variable when it holds a width (as
// shells set it), else what the terminal says, else 80; 0 when w is not a
// terminal.
func TerminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
		return w
	}
	return 80
}

// Count is n with the singular or plural words after it, for sentences
// about a report: "1 image has", "2 images have".
func Count(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}
