//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package store

import (
	"errors"
	"os"
)

// flockSupported is false here: without flock, a SQLite Store cannot tell
// a dead owner's leases from a live one's, so they run out as on
// PostgreSQL.
const flockSupported = false

func tryLock(*os.File) (bool, error) { return false, errors.New("store: flock not supported") }
