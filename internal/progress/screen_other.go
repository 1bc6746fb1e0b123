//go:build !unix

package progress

import "io"

// termWidth is unknown where the terminal size cannot be asked for.
func termWidth(io.Writer) int { return 0 }
