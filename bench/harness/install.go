package harness

import "context"

func (b *bench) install(ctx context.Context) error { return nil }
