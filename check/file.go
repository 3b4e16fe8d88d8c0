package check

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oat-toolkit/oat/atomicfile"
)

// readFile reads at most max bytes of a regular file. It opens without
// blocking, so a FIFO or a device put in the file's place is refused
// instead of hanging the product, and it names the file in every error.
func readFile(path string, max int64) ([]byte, error) {
	f, err := openNoBlock(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", path, ErrNoLicense)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	if !st.Mode().IsRegular() {
		what := "not a regular file"
		if st.IsDir() {
			what = "a directory"
		}
		return nil, fmt.Errorf("%s: %w: it is %s", path, ErrUnreadable, what)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrUnreadable, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: %w: larger than the %d-byte limit", path, ErrDamaged, max)
	}
	return data, nil
}

// readUnix reads a file holding decimal Unix seconds (the clock mark and
// the trial marker); 0 when it is missing or not such a file.
func readUnix(path string) int64 {
	data, err := readFile(path, 64)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// readTrialMarker returns when the trial began by the marker oat init
// writes, zero when there is none.
func readTrialMarker(path string) time.Time {
	if n := readUnix(path); n > 0 {
		return time.Unix(n, 0)
	}
	return time.Time{}
}

// clockReading is the time a check judges by.
type clockReading struct {
	now      time.Time
	readOnly bool
	warning  string
}

// readClock takes the later of the clock and the high-water mark kept in
// dir, and records it there when it moved on. When it cannot be recorded
// the reading says so: the answer still stands, but a clock set back later
// will not be caught.
func readClock(dir string, clock func() time.Time) clockReading {
	if clock == nil {
		clock = time.Now
	}
	now := clock().Truncate(time.Second)
	path := filepath.Join(dir, ClockFile)
	mark := readUnix(path)
	if mark >= now.Unix() {
		return clockReading{now: time.Unix(mark, 0)}
	}
	if err := atomicfile.Write(path, []byte(strconv.FormatInt(now.Unix(), 10)+"\n"), 0o644); err != nil {
		return clockReading{now: now, readOnly: true,
			warning: fmt.Sprintf("cannot record the time in %s, so a clock set back is not detected (%v)", dir, unwrapPath(err))}
	}
	return clockReading{now: now}
}

// unwrapPath drops the *fs.PathError's repetition of the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openNoBlock opens path for reading without waiting for a writer.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
}
