//go:build !unix

package config

import (
	"io/fs"
	"os"
)

// openNonBlocking opens path for reading; ReadRegularFile refuses what is not
// a regular file before reading it.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }

// secretFileWarning is empty: permission bits do not say who can read a file
// on this system.
func secretFileWarning(fs.FileInfo) string { return "" }
