package txid

import (
	"errors"
	"testing"
	"time"
)

func TestNewIsValidAndCarriesTime(t *testing.T) {
	before := time.Now().Add(-time.Millisecond)
	id, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(id); err != nil {
		t.Fatalf("Validate(%q) = %v", id, err)
	}
	ts, err := Time(id)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Before(before) || ts.After(time.Now().Add(time.Millisecond)) {
		t.Fatalf("Time(%q) = %v, want about now", id, ts)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"not-a-uuid",
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8",  // v1
		"0192F3C4-8B2A-7C3D-9E4F-123456789ABC",  // upper case
		"0192f3c48b2a7c3d9e4f123456789abc",      // no hyphens
		"0192f3c4-8b2a-7c3d-9e4f-123456789abc0", // too long
	} {
		if err := Validate(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Validate(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

// NewAt makes a valid id whose time is the one given, to the millisecond.
func TestNewAt(t *testing.T) {
	at := time.UnixMilli(1_700_000_123_456)
	id, err := NewAt(at)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Time(id)
	if err != nil || !got.Equal(at) {
		t.Fatalf("Time(NewAt(%v)) = %v, %v", at, got, err)
	}
}
