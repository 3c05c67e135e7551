package report

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/layerq/layerq/internal/dbsqlc"
	"github.com/layerq/layerq/internal/output"
	"github.com/layerq/layerq/internal/repoglob"
)

// StorageRow is where one repository's (or namespace's) bytes go. Logical
// bytes add up each live manifest's layers and config, as if nothing were
// shared; physical bytes count each blob it holds once; unique bytes are the
// blobs no other repository (namespace) of the registry holds, shared bytes
// the rest of the physical bytes.
type StorageRow struct {
	Registry      string `json:"registry"`
	Name          string `json:"name"`
	Images        int64  `json:"images"`
	LogicalBytes  int64  `json:"logical_bytes"`
	PhysicalBytes int64  `json:"physical_bytes"`
	UniqueBytes   int64  `json:"unique_bytes"`
	SharedBytes   int64  `json:"shared_bytes"`
}

// StorageTotal is one registry's storage: physical bytes count every blob
// once across the registry, so DedupFactor (logical / physical, 1 or more:
// a factor, not a fraction) is what layer sharing already saves.
type StorageTotal struct {
	Registry      string  `json:"registry"`
	Images        int64   `json:"images"`
	LogicalBytes  int64   `json:"logical_bytes"`
	PhysicalBytes int64   `json:"physical_bytes"`
	DedupFactor   float64 `json:"dedup_factor"`
}

// Storage is the storage report.
type Storage struct {
	By string `json:"by"`
	// Entries are the first rows, largest physical first; Matching counts
	// every row that matches, listed or not.
	Entries    []StorageRow   `json:"rows"`
	Matching   int64          `json:"matching_rows"`
	Registries []StorageTotal `json:"registries"`
}

// Storage groupings.
const (
	ByRepository = "repository"
	ByNamespace  = "namespace"
)

// StorageOptions select what storage groups by and looks at.
type StorageOptions struct {
	By string // ByRepository or ByNamespace
	// Names filters the rows (repositories, or namespaces) by glob.
	Names repoglob.Glob
	// Limit is how many rows to list, largest physical first (0: all).
	Limit int
}

// LoadStorage runs the storage report from the kept aggregates.
func LoadStorage(ctx context.Context, db DB, opts StorageOptions) (*Storage, error) {
	switch opts.By {
	case ByRepository, "":
		opts.By = ByRepository
	case ByNamespace:
	default:
		return nil, fmt.Errorf("--by %q: choose repository or namespace", opts.By)
	}
	if opts.Limit < 0 {
		return nil, fmt.Errorf("--limit must not be negative, got %d", opts.Limit)
	}
	limit := int32(min(opts.Limit, math.MaxInt32))
	out := &Storage{By: opts.By, Entries: []StorageRow{}, Registries: []StorageTotal{}}
	// The views' columns are never NULL.
	if opts.By == ByNamespace {
		rows, err := queries.StorageNamespaces(ctx, db, dbsqlc.StorageNamespacesParams{Namespace: opts.Names.Regexp(), Limit: limit})
		if err != nil {
			return nil, fmt.Errorf("querying storage: %w", err)
		}
		for _, r := range rows {
			out.Matching = r.Matching
			out.Entries = append(out.Entries, StorageRow{Registry: value(r.Registry), Name: value(r.Namespace), Images: int64(value(r.Images)),
				LogicalBytes: value(r.LogicalBytes), PhysicalBytes: value(r.PhysicalBytes), UniqueBytes: value(r.UniqueBytes), SharedBytes: value(r.SharedBytes)})
		}
	} else {
		rows, err := queries.StorageRepositories(ctx, db, dbsqlc.StorageRepositoriesParams{Repository: opts.Names.Regexp(), Limit: limit})
		if err != nil {
			return nil, fmt.Errorf("querying storage: %w", err)
		}
		for _, r := range rows {
			out.Matching = r.Matching
			out.Entries = append(out.Entries, StorageRow{Registry: value(r.Registry), Name: value(r.Repository), Images: int64(value(r.Images)),
				LogicalBytes: value(r.LogicalBytes), PhysicalBytes: value(r.PhysicalBytes), UniqueBytes: value(r.UniqueBytes), SharedBytes: value(r.SharedBytes)})
		}
	}
	totals, err := queries.StorageRegistries(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("querying storage totals: %w", err)
	}
	for _, t := range totals {
		out.Registries = append(out.Registries, StorageTotal{Registry: value(t.Registry), Images: value(t.Images),
			LogicalBytes: value(t.LogicalBytes), PhysicalBytes: value(t.PhysicalBytes), DedupFactor: t.DedupRatio})
	}
	return out, nil
}

// Preamble implements output.Preamble: the registry totals.
func (s *Storage) Preamble() []string {
	lines := make([]string, 0, len(s.Registries)+1)
	for _, t := range s.Registries {
		lines = append(lines, fmt.Sprintf("%s: %d images, logical %s, physical %s (each blob once): layer sharing stores %.2f× less",
			t.Registry, t.Images, output.Bytes(t.LogicalBytes), output.Bytes(t.PhysicalBytes), t.DedupFactor))
	}
	if n := int64(len(s.Entries)); n < s.Matching {
		lines = append(lines, fmt.Sprintf("The %d %s with the most physical bytes, of %d (--limit 0 lists all):", n, plural(s.By), s.Matching))
	}
	if len(lines) > 0 {
		lines = append(lines, "")
	}
	return lines
}

// plural is a grouping's name for many rows.
func plural(by string) string {
	if by == ByNamespace {
		return "namespaces"
	}
	return "repositories"
}

// Columns implements output.Table.
func (s *Storage) Columns() []output.Column {
	return []output.Column{{Key: "registry"}, {Key: "name", Title: strings.ToUpper(s.By)}, {Key: "images"},
		{Key: "logical_bytes", Title: "LOGICAL"}, {Key: "physical_bytes", Title: "PHYSICAL"},
		{Key: "unique_bytes", Title: "UNIQUE"}, {Key: "shared_bytes", Title: "SHARED"}}
}

// Empty implements output.Empty.
func (s *Storage) Empty() string {
	return "no live image in a repository matching --repo (run layerq-ingest scan, or check the glob)"
}

// Rows implements output.Table.
func (s *Storage) Rows() [][]any {
	out := make([][]any, 0, len(s.Entries))
	for _, r := range s.Entries {
		out = append(out, []any{r.Registry, r.Name, r.Images, output.Bytes(r.LogicalBytes), output.Bytes(r.PhysicalBytes), output.Bytes(r.UniqueBytes), output.Bytes(r.SharedBytes)})
	}
	return out
}
