// Package ops is what the operator's commands read and write besides a run:
// `connector status` (View.Report, View.PrintStatus: each tenant's
// watermark, last commit and stop, rate budget, enrichment mode, owed
// enrichments and DLQ, read from the offsets and DLQ topics), `connector
// redrive` (View.Redrive: redrive requests for dead-lettered incidents) and
// `connector tail` (Tail: a topic's records, filtered by key or incident).
// The binary parses the flags and loads the configuration; Open finds the
// tenants and reads their topics once.
package ops
