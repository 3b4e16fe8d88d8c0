package ledger

import (
	"regexp"
	"slices"
	"testing"
)

// Dump is how tests prove that a refused command changed nothing, so a
// table it skips is a table whose changes no test would see.
func TestTablesListsEveryTable(t *testing.T) {
	create := regexp.MustCompile(`(?i)CREATE TABLE (?:IF NOT EXISTS )?(\w+)`)
	// A table a migration builds to replace another (SQLite cannot drop a
	// column's constraint) ends under the old name.
	rename := regexp.MustCompile(`(?i)ALTER TABLE (\w+) RENAME TO (\w+)`)
	for _, m := range migrations {
		for _, stmts := range [][]string{m.common, m.sqlite, m.postgres} {
			renamed := map[string]bool{}
			for _, s := range stmts {
				for _, match := range rename.FindAllStringSubmatch(s, -1) {
					renamed[match[1]] = true
				}
			}
			for _, s := range stmts {
				for _, match := range create.FindAllStringSubmatch(s, -1) {
					if !renamed[match[1]] && !slices.Contains(Tables, match[1]) {
						t.Errorf("table %s is created by a migration but missing from Tables", match[1])
					}
				}
			}
		}
	}
}
