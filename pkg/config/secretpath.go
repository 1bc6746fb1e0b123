package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// UnreadableFile is the reason, for a *FieldError, that the file a setting
// names (XDR_API_KEY_FILE, KAFKA_SASL_PASSWORD_FILE, a tenant's api_key_file)
// cannot be used: what went wrong, then DescribePath of the setting's value.
// The value itself never appears, not even inside err: a secret pasted where
// its file's path belongs would otherwise be printed, and printed again at
// every reload of a tenants file. For example:
//
//	cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: 16 characters, an absolute path
func UnreadableFile(path string, err error) string {
	return "cannot be read (" + fileErrorText(path, err) + "); " + DescribePath(path)
}

// DescribePath describes the value of a file setting without showing it:
// its length and whether it looks like a path. A value that looks like a
// key (long, one word, no directory) says so.
func DescribePath(path string) string {
	var kind string
	switch {
	case path == "":
		return "the value is empty"
	case strings.HasPrefix(path, "/"):
		kind = "an absolute path"
	case strings.HasPrefix(path, "./"), strings.HasPrefix(path, "../"), strings.HasPrefix(path, "~"):
		kind = "a relative path"
	case looksLikeSecret(path):
		kind = "no directory, which looks like a key or password rather than a path: the variable takes the path of a file holding it"
	case strings.Contains(path, "/"):
		kind = "a relative path"
	default:
		kind = "a file name in the working directory"
	}
	return fmt.Sprintf("the value is not shown, in case it is the secret itself: %d characters, %s", len(path), kind)
}

// looksLikeSecret reports whether s reads like a credential rather than a
// path: 20 or more characters of the alphabets keys and passwords are
// written in (base64, hex, URL-safe base64), with no dot, as a file name
// would usually have.
func looksLikeSecret(s string) bool {
	if len(s) < 20 || strings.Contains(s, ".") {
		return false
	}
	for _, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && !strings.ContainsRune("+/=_-", r) {
			return false
		}
	}
	return true
}

// fileErrorText is err's text without path: an *fs.PathError (which
// names its path) is reduced to its cause, and any other mention of a
// path long enough to be a secret is replaced by "<path>".
func fileErrorText(path string, err error) string {
	if err == nil {
		return "unknown error"
	}
	msg := err.Error()
	if pe, ok := errors.AsType[*fs.PathError](err); ok && pe.Err != nil {
		msg = strings.ReplaceAll(msg, pe.Error(), pe.Err.Error())
	}
	if len(path) >= 4 {
		msg = strings.ReplaceAll(msg, path, "<path>")
	}
	return msg
}
