// Package sectest holds test fixtures for the secrets backends, shared by
// the unit tests and the e2e suite.
package sectest

import "encoding/base64"

// WellFormedToken is a 1Password service-account token the SDK accepts as
// to its shape (ops_ + base64 JSON with the eight fields it deserialises).
// Every value is made up, so the SDK gets as far as the network and no
// further.
func WellFormedToken() string {
	const creds = `{"signInAddress":"my.1password.com","email":"test@1passwordserviceaccounts.com",` +
		`"secretKey":"A3-XXXXXX-XXXXXX-XXXXX-XXXXX-XXXXX-XXXXX","srpX":"00ff",` +
		`"muk":{"alg":"A256GCM","ext":false,"k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","key_ops":["decrypt","encrypt"],"kty":"oct","kid":"mp"},` +
		`"userAuth":{"method":"SRPg-4096","alg":"PBES2g-HS256","iterations":100000,"salt":"c2FsdHNhbHRzYWx0c2FsdA"},` +
		`"deviceUuid":"abcdefghijklmnopqrstuvwxyz",` +
		`"throttleSecret":{"seed":"6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b","uuid":"abcdefghijklmnopqrstuvwxyz"}}`
	return "ops_" + base64.RawURLEncoding.EncodeToString([]byte(creds))
}
