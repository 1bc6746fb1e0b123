// Package xdr is a client for the two Cortex XDR / Xpanse public API endpoints
// the connector uses: get_incidents and get_incident_extra_data.
//
// The client makes exactly one HTTP attempt per call and never retries: the
// caller counts every attempt against its rate limiter and owns the retry
// policy, deciding with Retryable and RetryAfter. Replies are decoded
// tolerantly (see DecodeIncidentsReply and DecodeExtraData): the fields the
// connector reads are typed, and every object also keeps Raw, its bytes
// exactly as received, so records can carry fields the documentation does not
// know about.
//
// The API key travels as a Secret and never appears in an error, in the
// formatted Client or Config, or in a log line.
package xdr
