package pipeline

// Abandon stops the pipeline at once, as a crash would (see abandon).
func (p *Pipeline) Abandon() { p.abandon() }
