// Package journal is the durable record of a chaos-test participant: an
// append-only text file with one line per state change of a transaction
// (staged, prepared, committed, aborted, or a refused request that would have
// broken atomicity), each written and fsynced before the participant answers
// the call that caused it. The participant process replays it on restart, so
// that what it prepared survives SIGKILL; the chaos test reads it to check
// the invariants.
//
// A line is "<unix-nanos> <op> <txid>[ <detail>]". A line without its
// newline is a torn tail from a crash mid-write: readers ignore it and
// OpenWriter cuts it off.
package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Op is the kind of a Record.
type Op byte

// Ops.
const (
	OpStage     Op = 'S' // work staged under the transaction (not yet voted)
	OpPrepare   Op = 'P' // voted yes: the work is durable
	OpCommit    Op = 'C' // the work applied
	OpAbort     Op = 'A' // the work discarded; the transaction is fenced
	OpViolation Op = 'V' // a request that would break atomicity, refused
)

// Record is one line of a journal.
type Record struct {
	Time   time.Time
	Op     Op
	TxID   string
	Detail string // free text: why an abort or a violation happened
}

func (r Record) encode() []byte {
	var b bytes.Buffer
	b.WriteString(strconv.FormatInt(r.Time.UnixNano(), 10))
	b.WriteByte(' ')
	b.WriteByte(byte(r.Op))
	b.WriteByte(' ')
	b.WriteString(r.TxID)
	if r.Detail != "" {
		b.WriteByte(' ')
		b.WriteString(strings.ReplaceAll(r.Detail, "\n", " "))
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// parse decodes one line (without its newline).
func parse(line []byte) (Record, error) {
	f := strings.SplitN(string(line), " ", 4)
	if len(f) < 3 || len(f[1]) != 1 || f[2] == "" {
		return Record{}, fmt.Errorf("journal: malformed line %q", line)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("journal: malformed time in %q", line)
	}
	r := Record{Time: time.Unix(0, ns), Op: Op(f[1][0]), TxID: f[2]}
	switch r.Op {
	case OpStage, OpPrepare, OpCommit, OpAbort, OpViolation:
	default:
		return Record{}, fmt.Errorf("journal: unknown op in %q", line)
	}
	if len(f) == 4 {
		r.Detail = f[3]
	}
	return r, nil
}

// Reader reads a journal incrementally: each Next returns the complete
// records appended since the previous one. It may read a journal another
// process is writing.
type Reader struct {
	path    string
	off     int64
	partial []byte
}

// NewReader returns a Reader of the journal at path, from its start.
func NewReader(path string) *Reader { return &Reader{path: path} }

// Next returns the complete records written since the last call. A journal
// that does not exist yet has none.
func (r *Reader) Next() ([]Record, error) {
	f, err := os.Open(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(r.off, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	r.off += int64(len(data))
	data = append(r.partial, data...)
	var out []Record
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		rec, err := parse(data[:i])
		if err != nil {
			return out, err
		}
		out = append(out, rec)
		data = data[i+1:]
	}
	r.partial = bytes.Clone(data)
	return out, nil
}

// ReadAll returns every complete record of the journal at path.
func ReadAll(path string) ([]Record, error) { return NewReader(path).Next() }

// Writer appends records to a journal. Append returns once the record is
// durable; concurrent appends share fsyncs (group commit). It is safe for
// concurrent use.
type Writer struct {
	mu      sync.Mutex
	f       *os.File
	written uint64 // records handed to the OS
	failed  error  // a failed write or fsync is permanent

	syncMu sync.Mutex
	synced uint64 // records known durable; guarded by syncMu
}

// OpenWriter opens (creating if needed) the journal at path for appending
// and returns its existing records. A torn last line is cut off.
func OpenWriter(path string) (*Writer, []Record, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	var recs []Record
	good := 0
	for {
		i := bytes.IndexByte(data[good:], '\n')
		if i < 0 {
			break
		}
		rec, err := parse(data[good : good+i])
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		recs = append(recs, rec)
		good += i + 1
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &Writer{f: f}, recs, nil
}

// write hands rec to the OS and returns its sequence number, to pass to
// Sync. Callers that must order records with their own state changes call it
// under their own lock and Sync after releasing it.
func (w *Writer) write(rec Record) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return 0, w.failed
	}
	if _, err := w.f.Write(rec.encode()); err != nil {
		w.failed = fmt.Errorf("journal: write: %w", err)
		return 0, w.failed
	}
	w.written++
	return w.written, nil
}

// mark returns the sequence number of the last record written.
func (w *Writer) mark() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Sync returns once every record up to seq is durable. One fsync covers
// every record written before it started.
func (w *Writer) Sync(seq uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.synced >= seq {
		return nil
	}
	w.mu.Lock()
	target, failed := w.written, w.failed
	w.mu.Unlock()
	if failed != nil {
		return failed
	}
	if err := w.f.Sync(); err != nil {
		w.mu.Lock()
		w.failed = fmt.Errorf("journal: fsync: %w", err)
		w.mu.Unlock()
		return err
	}
	w.synced = target
	return nil
}

// Append writes rec and returns once it is durable.
func (w *Writer) Append(rec Record) error {
	seq, err := w.write(rec)
	if err != nil {
		return err
	}
	return w.Sync(seq)
}

// Close closes the journal file.
func (w *Writer) Close() error { return w.f.Close() }
