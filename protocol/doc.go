// Package protocol holds the wire-level pieces of the Tencent Cloud IM
// callback protocol that every layer shares: the query parameters IM appends
// to the callback URL, the JSON response envelope, the project's own error
// codes, the Sign algorithm and the OptPlatform normalisation.
//
// It imports nothing from the rest of imcallback, so middleware, the
// dispatcher and the test kit can all depend on it.
package protocol
