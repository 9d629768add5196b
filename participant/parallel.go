package participant

import "sync"

// parallel calls f(0) … f(n-1), at most limit of them at once, each but a
// lone one on its own goroutine, and returns when all have returned: a
// batch of any size starts at most limit goroutines at a time.
func parallel(n, limit int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(limit, 1))
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}
