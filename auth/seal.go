package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"

	"entrepot/hosted/fault"
)

// Seal encrypts plaintext with AES-256-GCM under Config.EncryptionKey
// (AUTH_ENCRYPTION_KEY) and returns nonce‖ciphertext in unpadded base64url.
// aad binds the result to its use (a provider id, a sign-in flow): a
// sealed value moved to another use does not open. Unavailable when no
// key is configured.
func (s *Service) Seal(aad string, plaintext []byte) (string, error) {
	const op = "auth.Seal"
	if s.ext.aead == nil {
		return "", fault.New(op, fault.Unavailable, "no encryption key is configured (AUTH_ENCRYPTION_KEY)")
	}
	nonce := make([]byte, s.ext.aead.NonceSize(), s.ext.aead.NonceSize()+len(plaintext)+s.ext.aead.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.ext.aead.Seal(nonce, nonce, plaintext, []byte(aad))), nil
}

// Open decrypts what Seal made with the same aad. Anything else (another
// key, another aad, a changed byte) is Unauthorized: sealed values come
// back from clients (cookies) as well as from the store.
func (s *Service) Open(aad, sealed string) ([]byte, error) {
	const op = "auth.Open"
	if s.ext.aead == nil {
		return nil, fault.New(op, fault.Unavailable, "no encryption key is configured (AUTH_ENCRYPTION_KEY)")
	}
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.ext.aead.NonceSize() {
		return nil, fault.New(op, fault.Unauthorized, "sealed value malformed")
	}
	n := s.ext.aead.NonceSize()
	out, err := s.ext.aead.Open(nil, b[:n], b[n:], []byte(aad))
	if err != nil {
		return nil, fault.New(op, fault.Unauthorized, "sealed value does not open")
	}
	return out, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	const op = "auth.New"
	if len(key) == 0 {
		return nil, nil
	}
	if len(key) != 32 {
		return nil, fault.New(op, fault.Invalid, "encryption key must be 32 bytes (AES-256)")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fault.Wrap(op, fault.Invalid, err)
	}
	return cipher.NewGCM(b)
}
