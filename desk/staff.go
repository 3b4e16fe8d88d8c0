package desk

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oat-toolkit/oat/ledger"
)

// MaxStaffName bounds a staff member's name, as shown in the audit log.
const MaxStaffName = 64

// validStaffName refuses names that would not read back the same in the
// audit log: empty, too long, surrounding space, control or format
// characters (a bidi override could disguise one name as another).
func validStaffName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the staff member's name is empty", ErrInvalidInput)
	case len(name) > MaxStaffName:
		return fmt.Errorf("%w: the staff member's name is longer than %d bytes", ErrInvalidInput, MaxStaffName)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: the staff member's name is not UTF-8", ErrInvalidInput)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: the staff member's name %q begins or ends with a space", ErrInvalidInput, name)
	}
	for _, c := range name {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) {
			return fmt.Errorf("%w: the staff member's name %q has control characters", ErrInvalidInput, name)
		}
	}
	return nil
}

// StaffMember is a staff member as listed: never their password hash.
type StaffMember struct {
	Name        string `json:"name"`
	Created     string `json:"created"`      // RFC 3339, UTC
	PasswordSet string `json:"password_set"` // when it was last set, RFC 3339, UTC
	Sessions    int    `json:"sessions"`     // signed in now
}

// AddStaff adds a staff member with the argon2id hash of their password
// (the portal's HashPassword makes it).
func (d *Desk) AddStaff(ctx context.Context, name, passwordHash, by string) error {
	if err := validStaffName(name); err != nil {
		return err
	}
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		if _, err := tx.Staff(ctx, name); err == nil {
			return fmt.Errorf("%w: staff member %s exists; set a new password with oat desk staff passwd", ErrConflict, name)
		} else if !isNotFound(err) {
			return err
		}
		if err := tx.InsertStaff(ctx, ledger.StaffMember{Name: name, PasswordHash: passwordHash, Created: now, Updated: now}); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "staff.add", "", "", map[string]any{"staff": name})
	})
}

// SetStaffPassword replaces a member's password and ends every session
// they have, so that a leaked password or cookie stops working at once.
func (d *Desk) SetStaffPassword(ctx context.Context, name, passwordHash, by string) (ended int64, err error) {
	now := d.now().Unix()
	err = d.db.Update(ctx, func(tx *ledger.Tx) error {
		var err error
		if ended, err = tx.SetStaffPassword(ctx, name, passwordHash, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "staff.password", "", "", map[string]any{"staff": name, "sessions_ended": ended})
	})
	return ended, err
}

// RemoveStaff removes a member and ends their sessions.
func (d *Desk) RemoveStaff(ctx context.Context, name, by string) error {
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		if err := tx.DeleteStaff(ctx, name); err != nil {
			return err
		}
		return audit(ctx, tx, now, by, "staff.remove", "", "", map[string]any{"staff": name})
	})
}

// Staff lists the staff members.
func (d *Desk) Staff(ctx context.Context) ([]StaffMember, error) {
	now := d.now().Unix()
	var out []StaffMember
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		ms, err := tx.StaffMembers(ctx)
		if err != nil {
			return err
		}
		counts, err := tx.StaffSessionCounts(ctx, now)
		if err != nil {
			return err
		}
		for _, m := range ms {
			out = append(out, StaffMember{Name: m.Name, Created: timeUTC(m.Created).Format(time.RFC3339),
				PasswordSet: timeUTC(m.Updated).Format(time.RFC3339), Sessions: counts[m.Name]})
		}
		return nil
	})
	return out, err
}

// StaffPasswordHash returns a member's password hash, for signing in.
func (d *Desk) StaffPasswordHash(ctx context.Context, name string) (string, error) {
	var m ledger.StaffMember
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		m, err = tx.Staff(ctx, name)
		return err
	})
	return m.PasswordHash, err
}

// OpenStaffSession records that name signed in, under the SHA-256 id of
// their session token, until expires. Expired sessions are swept here.
func (d *Desk) OpenStaffSession(ctx context.Context, name string, id []byte, expires time.Time) error {
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		if _, err := tx.Staff(ctx, name); err != nil {
			return err
		}
		if err := tx.DeleteExpiredStaffSessions(ctx, now); err != nil {
			return err
		}
		if err := tx.InsertStaffSession(ctx, ledger.StaffSession{ID: id, Staff: name, Created: now, Expires: expires.Unix()}); err != nil {
			return err
		}
		return audit(ctx, tx, now, "staff:"+name, "staff.login", "", "", map[string]any{"expires": expires.UTC().Format(time.RFC3339)})
	})
}

// StaffSession returns who a live session belongs to; a session that
// ended, expired or never was is ErrNotFound.
func (d *Desk) StaffSession(ctx context.Context, id []byte) (string, error) {
	var s ledger.StaffSession
	err := d.db.View(ctx, func(tx *ledger.Tx) error {
		var err error
		s, err = tx.StaffSession(ctx, id)
		return err
	})
	if err != nil {
		return "", err
	}
	if s.Expires <= d.now().Unix() {
		return "", fmt.Errorf("staff session: %w", ledger.ErrNotFound)
	}
	return s.Staff, nil
}

// CloseStaffSession ends a session (signing out).
func (d *Desk) CloseStaffSession(ctx context.Context, id []byte) error {
	now := d.now().Unix()
	return d.db.Update(ctx, func(tx *ledger.Tx) error {
		s, err := tx.StaffSession(ctx, id)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.DeleteStaffSession(ctx, id); err != nil {
			return err
		}
		return audit(ctx, tx, now, "staff:"+s.Staff, "staff.logout", "", "", map[string]any{})
	})
}
