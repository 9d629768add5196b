package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// nodeSecurity is what the security flags load.
type nodeSecurity struct {
	tls   *tls.Config // nil: plaintext
	token string      // empty: no admin token
}

// security loads the node's TLS files (none: plaintext) and admin token.
func security(files tlsconf.Files, tokenFile string) (nodeSecurity, error) {
	var sec nodeSecurity
	if !files.Empty() {
		c, err := tlsconf.Server(files)
		if err != nil {
			return sec, err
		}
		sec.tls = c
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return sec, fmt.Errorf("--admin-token-file: %w", err)
		}
		if sec.token = strings.TrimSpace(string(b)); sec.token == "" {
			return sec, fmt.Errorf("--admin-token-file %s is empty", tokenFile)
		}
	}
	return sec, nil
}
