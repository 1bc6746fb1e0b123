package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// Size bounds of the files the connector reads. A key, a password or a token
// is one line of well under 1 KiB; a tenants file of thousands of tenants is
// well under a megabyte.
const (
	MaxSecretFileBytes  = 16 << 10
	MaxTenantsFileBytes = 8 << 20
	MaxCAFileBytes      = 4 << 20 // a PEM bundle of every public root is about 250 KiB
)

// Reasons a file is refused, under the *fs.PathError that ReadRegularFile
// returns; its Error text never holds the file's content.
var (
	// ErrNotRegular: the path names a FIFO, a device, a socket or a
	// directory. Reading one may block forever (a FIFO without a writer) or
	// never end (/dev/zero).
	ErrNotRegular = errors.New("is not a regular file")
	// ErrTooLarge: the file holds more than the bound of its kind.
	ErrTooLarge = errors.New("is larger than expected")
)

// ReadRegularFile reads the file at path, which must be a regular file (a
// symlink to one is followed: Kubernetes mounts Secrets and ConfigMaps as
// symlinks into ..data) of at most limit bytes. It never blocks on what is not
// a regular file: the file is opened non-blocking and checked through the
// open descriptor before a byte is read, so a FIFO, a device or a file
// swapped in between cannot hang the caller or fill its memory. Errors are
// *fs.PathError (ErrNotRegular, ErrTooLarge, or the operating system's),
// which name the path: callers describe it rather than print it when the path
// may be a secret given in the wrong variable.
func ReadRegularFile(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fi, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s): give a regular file, or a symlink to one", ErrNotRegular, fileKind(fi.Mode()))}
	}
	if fi.Size() > limit {
		return nil, fi, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, fi.Size(), limit)}
	}
	// The size can change under the reader (and some regular files, like
	// those of /proc, report 0): the bound holds whatever it reads.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fi, err
	}
	if int64(len(b)) > limit {
		return nil, fi, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)}
	}
	return b, fi, nil
}

// ReadSecretFile reads a key, password or token file (XDR_API_KEY_FILE,
// KAFKA_SASL_PASSWORD_FILE, a tenant's api_key_file, HTTP_TOKEN_FILE): a
// regular file of at most MaxSecretFileBytes (see ReadRegularFile). The
// content is returned as it is; callers trim it. warning is not empty when
// users other than the process's own can read the file (see
// secretFileWarning); it never holds the path or the content.
func ReadSecretFile(path string) (content []byte, warning string, err error) {
	b, fi, err := ReadRegularFile(path, MaxSecretFileBytes)
	if err != nil {
		return nil, "", err
	}
	return b, secretFileWarning(fi), nil
}

// fileKind names what a non-regular mode is, for an error.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + strings.TrimSpace(m.Type().String())
}

// permissionAdvice ends the warning about a readable secret file.
const permissionAdvice = "chmod 0400 (or 0440 with a group of its own); in Kubernetes, set the secret volume's defaultMode to 0440 with the pod's fsGroup (the chart does)"
