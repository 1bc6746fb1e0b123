package xdr

// Peak is the most bytes b's replies have held at once.
func (b *ReplyBudget) Peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak
}
