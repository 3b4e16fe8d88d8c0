package desk

// SetBeforeCommit makes the issue transaction run f after allocating, as a
// crash between allocation and commit would.
func (d *Desk) SetBeforeCommit(f func() error) { d.beforeCommit = f }
