// Package progress is what `connector run` shows while it runs and when it
// stops: one tenant's progress line (versions, records per topic, the
// enrichment queue and when it empties, the budget in use, the lag), the
// block of a tenants file's tenants, the summaries, and how to read the
// topics. On a terminal the display is redrawn in place on a Screen that
// the logs write through, so a log line never lands inside it; elsewhere it
// is a structured "progress" log line.
package progress
