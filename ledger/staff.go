package ledger

import (
	"context"
	"fmt"
)

// StaffMember is a person of the license desk who may sign in to the
// portal's staff area.
type StaffMember struct {
	Name         string
	PasswordHash string // argon2id, PHC string format
	Created      int64
	Updated      int64 // when the password was last set
}

// StaffSession is a signed-in staff member. ID is the SHA-256 of the
// token in the browser's cookie: a leaked ledger gives no sessions.
type StaffSession struct {
	ID      []byte
	Staff   string
	Created int64
	Expires int64
}

const staffCols = `name, password, created, updated`

func scanStaff(s scanner) (StaffMember, error) {
	var m StaffMember
	err := s.Scan(&m.Name, &m.PasswordHash, &m.Created, &m.Updated)
	return m, err
}

// InsertStaff adds a staff member; a member of that name already there is
// a constraint error.
func (t *Tx) InsertStaff(ctx context.Context, m StaffMember) error {
	_, err := t.exec(ctx, `INSERT INTO staff (`+staffCols+`) VALUES (?, ?, ?, ?)`, m.Name, m.PasswordHash, m.Created, m.Updated)
	return err
}

// Staff returns one staff member.
func (t *Tx) Staff(ctx context.Context, name string) (StaffMember, error) {
	m, err := scanStaff(t.queryRow(ctx, `SELECT `+staffCols+` FROM staff WHERE name = ?`, name))
	return m, notFound(err, "staff member "+name)
}

// StaffMembers returns every staff member, by name.
func (t *Tx) StaffMembers(ctx context.Context) ([]StaffMember, error) {
	rows, err := t.query(ctx, `SELECT `+staffCols+` FROM staff ORDER BY name`)
	return collect(rows, err, scanStaff)
}

// SetStaffPassword replaces a member's password hash and ends every one
// of their sessions, returning how many there were.
func (t *Tx) SetStaffPassword(ctx context.Context, name, hash string, at int64) (int64, error) {
	res, err := t.exec(ctx, `UPDATE staff SET password = ?, updated = ? WHERE name = ?`, hash, at, name)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, fmt.Errorf("staff member %s: %w", name, ErrNotFound)
	}
	return t.DeleteStaffSessions(ctx, name)
}

// DeleteStaff removes a member and their sessions.
func (t *Tx) DeleteStaff(ctx context.Context, name string) error {
	if _, err := t.DeleteStaffSessions(ctx, name); err != nil {
		return err
	}
	res, err := t.exec(ctx, `DELETE FROM staff WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("staff member %s: %w", name, ErrNotFound)
	}
	return nil
}

// InsertStaffSession records a new session.
func (t *Tx) InsertStaffSession(ctx context.Context, s StaffSession) error {
	_, err := t.exec(ctx, `INSERT INTO staff_sessions (id, staff, created, expires) VALUES (?, ?, ?, ?)`, s.ID, s.Staff, s.Created, s.Expires)
	return err
}

// StaffSession returns the session with this ID, expired or not.
func (t *Tx) StaffSession(ctx context.Context, id []byte) (StaffSession, error) {
	var s StaffSession
	err := t.queryRow(ctx, `SELECT id, staff, created, expires FROM staff_sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.Staff, &s.Created, &s.Expires)
	return s, notFound(err, "staff session")
}

// DeleteStaffSession ends one session; ending one that is gone is no error.
func (t *Tx) DeleteStaffSession(ctx context.Context, id []byte) error {
	_, err := t.exec(ctx, `DELETE FROM staff_sessions WHERE id = ?`, id)
	return err
}

// DeleteStaffSessions ends every session of a member and says how many.
func (t *Tx) DeleteStaffSessions(ctx context.Context, name string) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM staff_sessions WHERE staff = ?`, name)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// DeleteExpiredStaffSessions drops sessions that ended before now.
func (t *Tx) DeleteExpiredStaffSessions(ctx context.Context, now int64) error {
	_, err := t.exec(ctx, `DELETE FROM staff_sessions WHERE expires <= ?`, now)
	return err
}

// StaffSessionCounts returns how many live sessions each member has.
func (t *Tx) StaffSessionCounts(ctx context.Context, now int64) (map[string]int, error) {
	rows, err := t.query(ctx, `SELECT staff, count(*) FROM staff_sessions WHERE expires > ? GROUP BY staff`, now)
	type count struct {
		name string
		n    int
	}
	cs, err := collect(rows, err, func(r scanner) (count, error) {
		var c count
		err := r.Scan(&c.name, &c.n)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(cs))
	for _, c := range cs {
		out[c.name] = c.n
	}
	return out, nil
}
