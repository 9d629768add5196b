package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
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
// The certificate rotates: a renewed one written over the files is taken
// at the next handshake, and log hears of it.
func security(files tlsconf.Files, tokenFile string, log *slog.Logger) (nodeSecurity, error) {
	var sec nodeSecurity
	if !files.Empty() {
		c, err := tlsconf.ServerRotating(files, func(err error) {
			if err != nil {
				log.Error("renewed TLS certificate not taken: the current one stays", "cert", files.Cert, "err", err)
				return
			}
			log.Info("TLS certificate reloaded", "cert", files.Cert)
		})
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
