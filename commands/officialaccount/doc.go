// Package officialaccount holds the typed payloads, reply fields and
// command descriptors of the OfficialAccount.* callbacks (PROTOCOL.md
// §4.9). Four command strings are unverified: CommandAfterCreateOfficialAccount,
// CommandAfterOfficialAccountInfoChanged, CommandAfterOfficialAccountDestroyed
// and CommandAfterOfficialAccountFull were seen only as CN page titles and
// SDK constants, and their payloads are modelled on their neighbours.
package officialaccount
