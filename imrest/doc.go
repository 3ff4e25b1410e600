// Package imrest is a small client for Tencent Cloud IM's server REST API
// (https://console.tim.qq.com/v4/…), for callback handlers that need to act
// on IM (send a message, look up a group) and for the service itself, e.g.
// to fetch the addresses IM's callbacks come from with GetIPList.
//
// Every call is made as the app administrator with a TLSSigAPIv2 UserSig,
// which the Client generates from the SdkAppID's secret key and reuses until
// it nears expiry. GenUserSig and VerifyUserSig are exported for other uses
// (issuing a UserSig to an app's own users, tests).
//
//	c, err := imrest.New(imrest.Config{
//		SdkAppID:  "1400000000",
//		SecretKey: imrest.Secret(os.Getenv("IM_SECRET_KEY")),
//	})
//	if err != nil {
//		return err
//	}
//	ips, err := c.GetIPList(ctx, imrest.NetTypeCallbackChina)
//
//	// Any other API: the request and answer are plain JSON values.
//	err = c.Call(ctx, "v4/openim/sendmsg", map[string]any{…}, &answer)
//	var apiErr *imrest.APIError
//	if errors.As(err, &apiErr) {
//		// IM refused: apiErr.Code, apiErr.Info
//	}
//
// The secret key and the UserSig never appear in an error, in the printed
// Config (SecretKey is a Secret), Client or Clients, nor in a printed
// struct of the program's own that keeps a *Client.
//
// It imports the standard library and, of imcallback, only internal/redact
// and internal/drain, which import the standard library alone: a program
// using it brings in nothing else of the service.
package imrest
