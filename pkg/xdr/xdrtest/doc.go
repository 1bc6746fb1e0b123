// Package xdrtest simulates a Cortex XDR tenant's public incidents API for
// tests, benchmarks and the zero-config demo (`connector simulate`).
//
// A Tenant is an http.Handler for
//
//	POST /public_api/v1/incidents/get_incidents[/]
//	POST /public_api/v1/incidents/get_incident_extra_data[/]
//	POST /public_api/v1/incidents/update_incident[/]
//	POST /public_api/v1/alerts/update_alerts[/]
//
// It speaks raw JSON and imports nothing from pkg/xdr, so it checks the
// connector's client independently rather than agreeing with it by
// construction. Start serves it on 127.0.0.1; Serve serves it on a listener.
//
// # What it models
//
// Authentication: a standard key (Authorization: <key>) or an advanced key
// (x-xdr-timestamp in epoch ms, a 64-character [A-Za-z0-9] x-xdr-nonce,
// Authorization: hex(sha256(key+nonce+timestamp))), always with
// x-xdr-auth-id. A request carrying a nonce or timestamp header is checked
// as advanced. Unknown key id, wrong key, bad signature, malformed nonce,
// a timestamp more than MaxSkew from Now, or a reused nonce all give 401.
// Error texts never contain the key.
//
// get_incidents: every documented filter, ANDed — modification_time and
// creation_time with gte/lte; incident_id_list, alert_sources and status
// with in; description with contains (a string, or a list matching any
// item, case-insensitive) and in (exact); status and starred with eq/neq;
// incident_id with eq/neq. Unknown fields, operators, value types and
// unknown keys in request_data are 400. Sort by creation_time, incident_id
// (numeric) or modification_time, asc or desc, ties by incident id
// ascending; without a sort clause, creation_time asc. The page is
// [search_from, search_to): search_to defaults to search_from+100, and
// search_to-search_from > 100, negative offsets or search_to < search_from
// are 400.
//
// Restricted incidents (Config.RestrictedFraction) that match the filters
// are listed, in sort order and unpaged, in restricted_incident_ids only;
// they neither occupy page slots nor count in total_count, so keyset paging
// over the visible incidents works. get_incident_extra_data on one is 403.
// An empty result omits restricted_incident_ids, as observed on real
// tenants.
//
// get_incident_extra_data: the incident (with extra fields such as
// is_blocked and aggregated_score), at most alerts_limit alerts (default
// 1000; 0 means the default) oldest first but the true alerts.total_count,
// and every network and file artifact as objects. An unknown incident —
// including one whose first version is not yet visible — is
// Config.UnknownIncidentStatus (default 500, the API's catch-all status)
// with an error body naming the incident. A missing or non-string
// incident_id, or a negative alerts_limit, is 422 with the
// {"code","status","message","errors"} body.
//
// update_incident and update_alerts really change the tenant: the incident
// (for update_alerts, each incident owning a listed alert) gets a new version
// stamped Now, which get_incidents and get_incident_extra_data then show like
// any other mutation's. update_incident takes assigned_user_mail (one of
// Users; "" unassigns), assigned_user_pretty_name (only with a mail),
// manual_severity ("" clears it), status (new, under_investigation or a
// resolved_ status), resolve_comment (only when the resulting status is
// resolved) and comment {"comment_action":"add","value"} (shown in notes);
// anything else, an unknown mail or an empty update_data is 400 with an error
// body and changes nothing. update_alerts takes 1 to 100 alert ids and any of
// severity, status and comment, skips unknown ids and answers
// {"reply":{"alerts_ids":[...]}}. WriteCalls lists the write calls. A
// FaultReset on a write endpoint applies the update before dropping the
// connection, as a lost reply would; a FaultSlow applies it and then holds
// the reply (WriteCall.Held). With Config.ReadOnly both answer 403,
// as to a key whose role may not edit.
//
// # Rate limit
//
// get_incident_extra_data is limited by a strict sliding log: a call is
// refused with 429 when RateLimit calls already lie within
// (now-RateWindow, now]. Every authenticated call is logged at arrival and
// counts, including refused calls, calls that get an injected fault, calls
// for unknown or failing incidents and bad requests: retrying into a 429
// keeps the window full. Unauthenticated calls do not count. A 429 carries
// Retry-After (whole seconds until a call would pass, at least 1) and the
// body {"reply":{"err_code":429,"err_msg":"Exceeded 10 requests in a
// 60-second window",...}}. get_incidents has no limit of its own.
//
// Config.RequestsPerSecond, when set, adds the tenant-wide budget of every
// endpoint: a call is refused with 429 (Retry-After: 1) when that many
// authenticated calls arrived within the last second (CountPaced429).
//
// # Time and visibility
//
// Config.Now drives every stamp, the window, the skew check and visibility;
// tests inject a fake clock. A version stamped T becomes visible at
// T+IndexDelay; a query sees each incident's latest visible version, and an
// incident whose first version is not yet visible does not exist for either
// endpoint. Mutations (ChangeStatus, AddAlerts, Reassign, CreateIncident,
// BulkUpdate, RunMutations) stamp modification_time = Now in ms; BulkUpdate
// gives every incident it touches the same millisecond. Versions records
// each version with the interval during which the API showed it, so a test
// can tell which versions a correct connector must have delivered.
//
// # Stopping and resuming
//
// A tenant is a function of its Config, the instant it was generated and the
// instants of its mutation steps: MutationConfig.Journal is told of each step
// before it is applied, and Replay rebuilds the same tenant from them, so a
// demo can keep its tenant across restarts (the connector's zero-config demo
// does, in DATA_DIR).
//
// # Data
//
// Generated from Config.Seed (same seed and clock, same bytes): string
// incident and alert ids, with ids crossing 999→1000 so that string order
// differs from numeric order; integer case_id; detection_time null; many
// nulls; is_whitelisted as false or "No"; tags a list on incidents and a
// string on alerts; comma-separated host_ip and mac; trailing spaces; "N/A"
// and "UNKNOWN" sentinels; severities low to critical; drifting and unknown
// statuses; hosts "hostname:<agent id>"; users `DOMAIN\user`; undocumented
// fields (x_custom_field, incident_domain); about one alert in fifty without
// alert_id; some incidents sharing a modification_time millisecond; most
// incidents with 0–20 alerts and a few with hundreds up to MaxAlerts. Alerts
// and artifacts are rendered on demand from per-item seeds, so large
// tenants stay cheap.
//
// # Faults
//
// Inject queues faults for a counted number of requests (server errors,
// slow replies, connection resets, truncated gzip, malformed JSON, forced
// 429s); FailIncident makes one incident's extra data fail. Replies are
// gzip-compressed when the request accepts gzip. Error bodies mix the
// documented shapes: wrapped in "reply" or at top level, err_code as integer
// or string, err_msg with a leading space, err_extra as a string or a list
// of objects.
package xdrtest
