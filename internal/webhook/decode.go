package webhook

import "net/http"

// Decode decodes a request body with the decoder for source, one of
// SourceDistribution, SourceHarbor, SourceDockerHub and SourceCloudEvents, so
// that a receiver can route every registry through one handler
// (POST /hooks/{source}, say). header is the request's header; only Harbor
// (Content-Type) and CloudEvents (Content-Type, ce-*) read it, and it may be
// nil. An unknown source is a *DecodeError.
func Decode(source string, body []byte, header http.Header) (Result, error) {
	switch source {
	case SourceDistribution:
		return DecodeDistribution(body)
	case SourceHarbor:
		return DecodeHarbor(body, header.Get("Content-Type"))
	case SourceDockerHub:
		return DecodeDockerHub(body)
	case SourceCloudEvents:
		return DecodeCloudEvent(body, header)
	}
	return Result{}, &DecodeError{Reason: "webhook: unknown source " + quote(source)}
}
