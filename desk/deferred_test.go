package desk_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/oat-toolkit/oat/desk"
	"github.com/oat-toolkit/oat/ledger"
	"github.com/oat-toolkit/oat/ledger/ledgertest"
)

// The group transaction defers what its requests write (activations,
// allocations, licenses, addresses, seat owners, host groups,
// registrations, mails, audit entries) to multi-row statements at commit,
// and takes a savepoint only for a request that must write before. These
// tests hold it to what answering the same requests one by one does.

// batchCase is requests to answer in one group transaction, made on a
// fresh ledger, with what each must get (nil: a license).
type batchCase struct {
	in   []desk.Input
	want []error
	opt  desk.IssueOptions
}

func (c *batchCase) add(name string, data []byte, want error) {
	c.in = append(c.in, desk.Input{Name: name, Data: data})
	c.want = append(c.want, want)
}

// sameAsOneByOne answers the requests scenario makes in one group
// transaction on one ledger and one by one on another, and checks that
// every request gets the same answer and that both ledgers hold the same.
func sameAsOneByOne(t *testing.T, scenario func(t *testing.T, fx *fixture) *batchCase) {
	for _, b := range ledgertest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			dsn := filepath.Join(t.TempDir(), "single.db")
			if b.Name != "sqlite" {
				dsn = ledgertest.PostgresSchema(t, os.Getenv("OAT_TEST_POSTGRES"))
			}
			batched, single := newFixture(t, b.DSN), newFixture(t, dsn)
			bc, sc := scenario(t, batched), scenario(t, single)
			out, errs := batched.desk.IssueEachForTest(ctx, batched.vendor, bc.in, bc.opt)
			for i, f := range sc.in {
				got, err := single.issue(f.Name, f.Data, sc.opt)
				if w := sc.want[i]; (w == nil) != (err == nil) || (w != nil && !errors.Is(err, w)) {
					t.Errorf("one by one, %s: %v, want %v", f.Name, err, w)
				}
				if w := bc.want[i]; (w == nil) != (errs[i] == nil) || (w != nil && !errors.Is(errs[i], w)) {
					t.Errorf("in one batch, %s: %v, want %v", f.Name, errs[i], w)
				}
				if err != nil || errs[i] != nil {
					if a, b := words(errs[i]), words(err); a != b {
						t.Errorf("%s: in one batch\n\t%s\none by one\n\t%s", f.Name, a, b)
					}
					continue
				}
				if a, b := issuedWords(&out[i]), issuedWords(got); a != b {
					t.Errorf("%s: in one batch %s, one by one %s", f.Name, a, b)
				}
			}
			if a, b := shape(t, batched), shape(t, single); a != b {
				t.Errorf("the ledgers differ:\nin one batch:\n%s\none by one:\n%s", a, b)
			}
		})
	}
}

var activationID = regexp.MustCompile(`act-[0-9A-Za-z]+`)

// words is an error's message without the activation IDs, which differ
// from one ledger to the other.
func words(err error) string {
	if err == nil {
		return "granted"
	}
	return activationID.ReplaceAllString(err.Error(), "act-ID")
}

func issuedWords(is *desk.Issued) string {
	var ps []string
	for _, p := range is.License.Products {
		ps = append(ps, fmt.Sprintf("%s/%s seats=%d units=%d pool=%s", p.Code, p.Order, p.Seats, p.Units, p.Pool))
	}
	return fmt.Sprintf("new=%v repeat=%v seq=%d %s", is.New, is.Repeat, is.Sequence, strings.Join(ps, ", "))
}

// shape is what a ledger holds, without what differs between two ledgers
// given the same requests (IDs, keys, tokens, times): the rows per table,
// and every order's lines with their seats in use, activations and units.
func shape(t *testing.T, fx *fixture) string {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.Split(fx.dump(), "\n") {
		if strings.HasPrefix(l, "[") {
			b.WriteString(l + "\n")
		}
	}
	var orders []string
	if err := fx.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		orders, err = tx.OrderIDs(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		v := fx.show(o)
		fmt.Fprintf(&b, "%s: %d activations;", o, len(v.Activations))
		for _, l := range v.Products {
			fmt.Fprintf(&b, " %s used %d units %d;", l.Code, l.Used, l.Units)
		}
		var emails []string
		for _, e := range v.Emails {
			emails = append(emails, e.Email+"="+e.State)
		}
		slices.Sort(emails)
		fmt.Fprintf(&b, " %s\n", strings.Join(emails, " "))
	}
	return b.String()
}

// TestGroupCommitDeferredOwnOutcomes: in one group transaction, requests
// for a full order, requests refused by a rule after passing others (an
// address that needs approval, A8; a second product without seats after
// the first was allocated; a product not on the order) and requests for
// free orders each get their own outcome, the very one they get one by
// one, and the ledger holds exactly the granted ones: activations,
// allocations, licenses, registrations and their mails, audit entries,
// addresses, and counters equal to a recount (newFixture checks that).
func TestGroupCommitDeferredOwnOutcomes(t *testing.T) {
	sameAsOneByOne(t, func(t *testing.T, fx *fixture) *batchCase {
		fx.order("FULL", "FN", "buyer@example.com", "backup-server", 1, "")
		fx.order("A8", "FN", "buyer@example.com", "backup-server", 5, "")
		fx.order("FREE", "FN", "buyer@example.com", "backup-server", 3, "")
		fx.order("TWO", "FN", "buyer@example.com", "backup-server", 3, "")
		fx.order("TWO", "FN", "buyer@example.com", "replica-server", 1, "")
		fx.mustIssue(newInstallation("full").request(t, "FULL", "FN", "buyer@example.com"), desk.IssueOptions{})
		fx.mustIssue(newInstallation("first").request(t, "A8", "FN", "first@example.com"), desk.IssueOptions{})
		fx.mustIssue(newInstallation("replica").request(t, "TWO", "FN", "buyer@example.com", "replica-server"), desk.IssueOptions{})

		c := &batchCase{}
		c.add("full-1", newInstallation("full-1").request(t, "FULL", "FN", "buyer@example.com"), desk.ErrNoSeats)
		c.add("free-1", newInstallation("free-1").request(t, "FREE", "FN", "buyer@example.com"), nil)
		c.add("a8-other", newInstallation("a8-other").request(t, "A8", "FN", "other@example.com"), desk.ErrPendingApproval)
		c.add("a8-first", newInstallation("a8-first").request(t, "A8", "FN", "first@example.com"), nil)
		c.add("not-on-order", newInstallation("not-on-order").request(t, "FREE", "FN", "buyer@example.com", "backup-desktop"), desk.ErrNotEntitled)
		c.add("two-both", newInstallation("two-both").request(t, "TWO", "FN", "buyer@example.com"), desk.ErrNoSeats)
		c.add("free-2", newInstallation("free-2").request(t, "FREE", "FN", "buyer@example.com"), nil)
		c.add("two-server", newInstallation("two-server").request(t, "TWO", "FN", "buyer@example.com", "backup-server"), nil)
		c.add("full-2", newInstallation("full-2").request(t, "FULL", "FN", "buyer@example.com"), desk.ErrNoSeats)
		c.add("free-3", newInstallation("free-3").request(t, "FREE", "FN", "other@example.com"), desk.ErrPendingApproval)
		c.add("free-4", newInstallation("free-4").request(t, "FREE", "FN", "buyer@example.com"), nil)
		c.add("free-5", newInstallation("free-5").request(t, "FREE", "FN", "buyer@example.com"), desk.ErrNoSeats)
		c.add("wrong-fn", newInstallation("wrong-fn").request(t, "FREE", "WRONG", "buyer@example.com"), desk.ErrNotEntitled)
		return c
	})
}

// TestGroupCommitDeferredInteract: requests in one batch that meet
// through what the ones before them deferred behave exactly as one by
// one: the second address of an order (A8) and the first one again, the
// last seat, one installation asking twice (its second request finds the
// activation and seats the first deferred), a repeated request whose
// license a request before it in the batch superseded, a seat that
// belongs to a person (B22), and a per-host group whose hypervisor the
// first VM in the batch recorded.
func TestGroupCommitDeferredInteract(t *testing.T) {
	sameAsOneByOne(t, func(t *testing.T, fx *fixture) *batchCase {
		fx.order("A8", "FN", "buyer@example.com", "backup-server", 3, "")
		fx.order("LAST", "FN", "buyer@example.com", "backup-server", 2, "")
		fx.order("DUO", "FN", "buyer@example.com", "backup-server", 2, "")
		fx.order("DUO", "FN", "buyer@example.com", "replica-server", 2, "")
		fx.order("ITP", "FN", "buyer@example.com", "backup-itpro", 2, "")
		twice, again := newInstallation("twice"), newInstallation("again")
		old := again.request(t, "DUO", "FN", "buyer@example.com", "backup-server")
		fx.mustIssue(old, desk.IssueOptions{})

		c := &batchCase{}
		c.add("a8-1", newInstallation("a8-1").request(t, "A8", "FN", "one@example.com"), nil)
		c.add("a8-2", newInstallation("a8-2").request(t, "A8", "FN", "two@example.com"), desk.ErrPendingApproval)
		c.add("a8-3", newInstallation("a8-3").request(t, "A8", "FN", "one@example.com"), nil)
		c.add("last-1", newInstallation("last-1").request(t, "LAST", "FN", "buyer@example.com"), nil)
		c.add("last-2", newInstallation("last-2").request(t, "LAST", "FN", "buyer@example.com"), nil)
		c.add("last-3", newInstallation("last-3").request(t, "LAST", "FN", "buyer@example.com"), desk.ErrNoSeats)
		c.add("twice-1", twice.request(t, "DUO", "FN", "buyer@example.com", "backup-server"), nil)
		c.add("twice-2", twice.request(t, "DUO", "FN", "buyer@example.com", "replica-server"), nil)
		c.add("again-new", again.request(t, "DUO", "FN", "buyer@example.com", "replica-server"), nil)
		c.add("again-old", old, desk.ErrSuperseded)
		c.add("itpro-1", newInstallation("itpro-1").request(t, "ITP", "FN", "buyer@example.com"), nil)
		c.add("itpro-2", newInstallation("itpro-2").request(t, "ITP", "FN", "buyer@example.com"), desk.ErrConflict)
		c.add("itpro-3", newInstallation("itpro-3").request(t, "ITP", "FN", "buyer@example.com", "backup-itpro", "backup-server"), desk.ErrNotEntitled)
		return c
	})
	sameAsOneByOne(t, func(t *testing.T, fx *fixture) *batchCase {
		fx.order("VIRT", "FN", "buyer@example.com", "backup-virtual", 1, "")
		c := &batchCase{opt: desk.IssueOptions{Group: "hv-1"}}
		c.add("kvm-1", newInstallation("kvm-1", vm("kvm")).request(t, "VIRT", "FN", "buyer@example.com"), nil)
		c.add("vmware", newInstallation("vmware", vm("vmware")).request(t, "VIRT", "FN", "buyer@example.com"), desk.ErrConflict)
		c.add("kvm-2", newInstallation("kvm-2", vm("kvm")).request(t, "VIRT", "FN", "buyer@example.com"), nil)
		return c
	})
}

// TestGroupCommitDeferredSavepoint: a request that must write before the
// commit (a cluster node reads whether its cluster holds a license, from
// the counters, which it writes first, with the rows the requests before
// it deferred) runs in a savepoint; refused, it takes back its own
// changes and not those of the requests before it, whose rows it wrote.
func TestGroupCommitDeferredSavepoint(t *testing.T) {
	sameAsOneByOne(t, func(t *testing.T, fx *fixture) *batchCase {
		fx.order("CL", "FN", "buyer@example.com", "backup-cluster", 1, "")
		fx.order("CL", "FN", "buyer@example.com", "backup-cluster-node", 2, "")
		fx.order("FREE", "FN", "buyer@example.com", "backup-server", 3, "")
		c := &batchCase{opt: desk.IssueOptions{Group: "c1"}}
		c.add("free-1", newInstallation("free-1").request(t, "FREE", "FN", "buyer@example.com"), nil)
		c.add("node-early", newInstallation("node-early").request(t, "CL", "FN", "buyer@example.com", "backup-cluster-node"), desk.ErrNotEntitled)
		c.add("free-2", newInstallation("free-2").request(t, "FREE", "FN", "buyer@example.com"), nil)
		c.add("cluster-1", newInstallation("cluster-1").request(t, "CL", "FN", "buyer@example.com", "backup-cluster"), nil)
		c.add("node", newInstallation("node").request(t, "CL", "FN", "buyer@example.com", "backup-cluster-node"), nil)
		c.add("cluster-2", newInstallation("cluster-2").request(t, "CL", "FN", "buyer@example.com", "backup-cluster"), nil)
		c.add("cluster-3", newInstallation("cluster-3").request(t, "CL", "FN", "buyer@example.com", "backup-cluster"), desk.ErrNoSeats)
		c.add("free-3", newInstallation("free-3").request(t, "FREE", "FN", "buyer@example.com"), nil)
		return c
	})
}

// TestGroupCommitStatements: a request that passes its checks runs no
// SQL statement of its own: a batch of 16 new activations on one order
// runs as many statements as a batch of 8, in the group transaction and
// in the desk's batch (oat desk issue). Before, each request ran seven
// (a savepoint and its release, the activation, the allocation, the
// address, the registration and its mail).
func TestGroupCommitStatements(t *testing.T) {
	eachBackend(t, func(t *testing.T, fx *fixture) {
		batch := func(order string, n int) []desk.Input {
			fx.order(order, "FN", "buyer@example.com", "backup-server", 20, "")
			var in []desk.Input
			for i := range n {
				in = append(in, desk.Input{Name: fmt.Sprint(i), Data: newInstallation(fmt.Sprint(i)).request(t, order, "FN", "buyer@example.com")})
			}
			return in
		}
		// The ledger learns the vendor key with the first license.
		fx.order("FIRST", "FN", "buyer@example.com", "backup-server", 1, "")
		fx.mustIssue(newInstallation("first").request(t, "FIRST", "FN", "buyer@example.com"), desk.IssueOptions{})
		statements := map[string]int64{}
		for _, n := range []int{8, 16} {
			in := batch(fmt.Sprintf("G%d", n), n)
			before := fx.db.Statements()
			_, errs := fx.desk.IssueEachForTest(ctx, fx.vendor, in, desk.IssueOptions{})
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			statements[fmt.Sprintf("group transaction, %d", n)] = fx.db.Statements() - before

			in = batch(fmt.Sprintf("B%d", n), n)
			before = fx.db.Statements()
			if _, err := fx.desk.Issue(ctx, fx.vendor, in, desk.IssueOptions{}); err != nil {
				t.Fatal(err)
			}
			statements[fmt.Sprintf("desk batch, %d", n)] = fx.db.Statements() - before
		}
		for _, path := range []string{"group transaction", "desk batch"} {
			a, b := statements[path+", 8"], statements[path+", 16"]
			if a != b {
				t.Errorf("%s: 8 requests ran %d statements, 16 ran %d: %.1f per request", path, a, b, float64(b-a)/8)
			}
			if a == 0 {
				t.Errorf("%s: no statement counted", path)
			}
		}
		t.Logf("%v", statements)
	})
}
