// Package output renders what layerq's commands return: one printer for
// every report, as a table for people or as JSON or CSV for scripts.
//
// A report is a value that marshals to JSON (snake_case keys, stable) and
// implements Table. Cells are plain values; Bytes cells print as exact
// integers in JSON and CSV and in IEC units in tables.
package output

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Format is an output format.
type Format string

// The formats.
const (
	TableFormat Format = "table"
	JSONFormat  Format = "json"
	CSVFormat   Format = "csv"
)

// ParseFormat checks a --output value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case TableFormat, JSONFormat, CSVFormat:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q: use table, json or csv", s)
}

// Table is a report that renders as rows.
type Table interface {
	// Columns names the columns, in order.
	Columns() []string
	// Rows returns the cells, one slice per row, in column order.
	Rows() [][]any
}

// Preamble is optionally implemented by a Table that shows a few lines of
// context above its rows (table format only).
type Preamble interface {
	Preamble() []string
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

// Digest is a content digest: tables show its algorithm and first 12 hex
// digits, CSV the whole digest.
type Digest string

// Whole is a text cell that tables print whole, never truncated: for the
// last column, when cutting it would lose its point (advice, say).
type Whole string

// Print renders report in format.
func Print(w io.Writer, format Format, report Table) error {
	switch format {
	case JSONFormat:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // "&&" in a fix stays readable
		return enc.Encode(report)
	case CSVFormat:
		cw := csv.NewWriter(w)
		if err := cw.Write(report.Columns()); err != nil {
			return err
		}
		for _, row := range report.Rows() {
			rec := make([]string, len(row))
			for i, c := range row {
				rec[i] = cell(c, false)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	default:
		if p, ok := report.(Preamble); ok {
			for _, line := range p.Preamble() {
				if _, err := fmt.Fprintln(w, line); err != nil {
					return err
				}
			}
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		cols := report.Columns()
		head := make([]string, len(cols))
		for i, c := range cols {
			head[i] = strings.ToUpper(c)
		}
		fmt.Fprintln(tw, strings.Join(head, "\t"))
		for _, row := range report.Rows() {
			rec := make([]string, len(row))
			for i, c := range row {
				rec[i] = strings.ReplaceAll(cell(c, true), "\t", " ")
			}
			fmt.Fprintln(tw, strings.Join(rec, "\t"))
		}
		return tw.Flush()
	}
}

// cell renders one value; human picks units for people.
func cell(v any, human bool) string {
	switch c := v.(type) {
	case nil:
		return ""
	case Bytes:
		if human {
			return c.String()
		}
		return fmt.Sprint(int64(c))
	case *time.Time:
		if c == nil {
			return ""
		}
		return c.UTC().Format(time.RFC3339)
	case time.Time:
		return c.UTC().Format(time.RFC3339)
	case []string:
		return strings.Join(c, ",")
	case float64:
		return fmt.Sprintf("%.2f", c)
	case string:
		if human {
			return Truncate(c, 72)
		}
		return c
	case Digest:
		if human {
			if alg, hex, ok := strings.Cut(string(c), ":"); ok && len(hex) > 12 {
				return alg + ":" + hex[:12]
			}
		}
		return string(c)
	case Whole:
		return strings.Join(strings.Fields(string(c)), " ")
	default:
		return fmt.Sprint(c)
	}
}

// Truncate shortens s to at most n runes for a table cell, ending in "…".
func Truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
