package arm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// Files of the sim's TLS material under <stateDir>/tls. CAFile is the one a
// client trusts; the keys never leave the state dir.
const (
	CAFile        = "ca.pem"
	caKeyFile     = "ca-key.pem"
	serverFile    = "server.pem"
	serverKeyFile = "server-key.pem"
)

// loadOrCreateTLS returns the CA certificate (PEM) and the server
// certificate, generating both on first use and keeping them in dir so every
// process on one state dir serves the same chain a client already trusts.
func loadOrCreateTLS(dir string) (caPEM []byte, cert tls.Certificate, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, cert, err
	}
	unlock, err := simfs.Lock(filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, cert, err
	}
	defer unlock()
	caPEM, err = os.ReadFile(filepath.Join(dir, CAFile))
	if errors.Is(err, fs.ErrNotExist) {
		if err := createTLS(dir); err != nil {
			return nil, cert, fmt.Errorf("arm: create TLS material in %s: %w", dir, err)
		}
		caPEM, err = os.ReadFile(filepath.Join(dir, CAFile))
	}
	if err != nil {
		return nil, cert, err
	}
	cert, err = tls.LoadX509KeyPair(filepath.Join(dir, serverFile), filepath.Join(dir, serverKeyFile))
	if err != nil {
		return nil, cert, fmt.Errorf("arm: load server certificate from %s (delete the directory to regenerate it): %w", dir, err)
	}
	return caPEM, cert, nil
}

func createTLS(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "tlreconcile simulated Azure Local CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	// The CA file is written last: its presence says the set is complete.
	for _, f := range []struct {
		name string
		der  []byte
		key  *ecdsa.PrivateKey
	}{{serverFile, srvDER, nil}, {serverKeyFile, nil, srvKey}, {caKeyFile, nil, caKey}, {CAFile, caDER, nil}} {
		b, err := pemOf(f.der, f.key)
		if err != nil {
			return err
		}
		if err := simfs.WriteFileAtomic(filepath.Join(dir, f.name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemOf(der []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
	}
	b, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
