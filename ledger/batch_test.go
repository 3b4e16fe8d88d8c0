package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// TestBatchRows: the batch reads and multi-row inserts return and write
// exactly the rows asked for, across more rows than one statement takes.
func TestBatchRows(t *testing.T) {
	ctx := context.Background()
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			db := migrated(t, b.DSN)
			const n = 300 // full chunks, a multiple of 8 and a rest
			var acts []ledger.Activation
			var lics []ledger.License
			var audits []ledger.AuditEntry
			var keys, nonces [][]byte
			for i := range n {
				key := []byte(fmt.Sprintf("%032d", i))
				a := ledger.Activation{ID: fmt.Sprintf("act-%03d", i), InstallKey: key, Machine: []byte{0xa0}, Method: "offline", State: "active", Seq: 1}
				if i%7 == 0 {
					a.State = "released" // not returned by ActiveActivationsByKey
				}
				acts = append(acts, a)
				keys = append(keys, key)
				nonce := []byte(fmt.Sprintf("nonce-%03d", i))
				var ln []byte
				if i%5 != 0 {
					ln = nonce // licenses without a nonce are never found by one
				}
				lics = append(lics, ledger.License{Activation: a.ID, Seq: 1, ID: []byte(fmt.Sprintf("cti-%03d", i)), Nonce: ln, Claims: []byte{0xa0}, Issued: int64(i)})
				nonces = append(nonces, nonce)
				audits = append(audits, ledger.AuditEntry{At: int64(i), Actor: "test", Action: fmt.Sprint("a", i), Activation: a.ID, Detail: "{}"})
			}
			err := db.Update(ctx, func(tx *ledger.Tx) error {
				for _, a := range acts {
					if err := tx.InsertActivation(ctx, a); err != nil {
						return err
					}
				}
				if err := tx.InsertLicenses(ctx, lics); err != nil {
					return err
				}
				return tx.AuditAll(ctx, audits)
			})
			if err != nil {
				t.Fatal(err)
			}
			// Update, not View: ActiveActivationsByKey locks the rows on PostgreSQL.
			err = db.Update(ctx, func(tx *ledger.Tx) error {
				active, err := tx.ActiveActivationsByKey(ctx, append(keys, []byte("no such key")))
				if err != nil {
					return err
				}
				for i, a := range acts {
					got, ok := active[string(a.InstallKey)]
					if ok != (a.State == "active") || (ok && got.ID != a.ID) {
						t.Errorf("activation %d: got %+v, %v", i, got.ID, ok)
					}
				}
				answered, err := tx.LicensesByNonce(ctx, nonces)
				if err != nil {
					return err
				}
				for i, l := range lics {
					got, ok := answered[string(nonces[i])]
					if ok != (l.Nonce != nil) || (ok && (!bytes.Equal(got.ID, l.ID) || got.Activation != l.Activation)) {
						t.Errorf("license %d: got %+v, %v", i, got, ok)
					}
				}
				log, err := tx.AuditLog(ctx, "", "")
				if err != nil {
					return err
				}
				if len(log) != n {
					t.Fatalf("%d audit entries, want %d", len(log), n)
				}
				for i, e := range log {
					if e.Action != fmt.Sprint("a", i) {
						t.Errorf("audit entry %d is %q: out of order", i, e.Action)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
