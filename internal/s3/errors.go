package s3

import (
	"context"
	"errors"
	"net/http"

	"github.com/shoalfs/shoal/internal/fserr"
	"github.com/shoalfs/shoal/internal/s3/sigv4"
)

// apiError is an S3 error response: the one table from failures to S3
// Code + HTTP status lives here.
type apiError struct {
	Code    string
	Message string
	Status  int
}

func (e *apiError) Error() string { return "s3: " + e.Code + ": " + e.Message }

func apiErr(code string, status int, msg string) *apiError {
	return &apiError{Code: code, Message: msg, Status: status}
}

var (
	errAccessDenied          = apiErr("AccessDenied", 403, "Access Denied")
	errBadDigest             = apiErr("BadDigest", 400, "The Content-MD5 or checksum you specified did not match what was received.")
	errBucketAlreadyExists   = apiErr("BucketAlreadyExists", 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
	errBucketAlreadyOwned    = apiErr("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded and you already own it.")
	errBucketNotEmpty        = apiErr("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
	errEntityTooLarge        = apiErr("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size.")
	errEntityTooSmall        = apiErr("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size.")
	errIncompleteBody        = apiErr("IncompleteBody", 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	errInternal              = apiErr("InternalError", 500, "We encountered an internal error. Please try again.")
	errInvalidArgument       = apiErr("InvalidArgument", 400, "Invalid Argument")
	errInvalidBucketName     = apiErr("InvalidBucketName", 400, "The specified bucket is not valid.")
	errInvalidDigest         = apiErr("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
	errInvalidPart           = apiErr("InvalidPart", 400, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.")
	errInvalidPartOrder      = apiErr("InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered by part number.")
	errInvalidPartNumber     = apiErr("InvalidPartNumber", 416, "The requested partnumber is not satisfiable")
	errInvalidRange          = apiErr("InvalidRange", 416, "The requested range is not satisfiable")
	errInvalidRequest        = apiErr("InvalidRequest", 400, "Invalid Request")
	errInvalidTag            = apiErr("InvalidTag", 400, "The tag provided was not a valid tag.")
	errKeyTooLong            = apiErr("KeyTooLongError", 400, "Your key is too long.")
	errKeyConflict           = apiErr("KeyConflict", 409, "The key conflicts with an existing directory or a file on its path.")
	errMalformedXML          = apiErr("MalformedXML", 400, "The XML you provided was not well-formed or did not validate against our published schema.")
	errMethodNotAllowed      = apiErr("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")
	errMissingContentLength  = apiErr("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
	errNoSuchBucket          = apiErr("NoSuchBucket", 404, "The specified bucket does not exist")
	errNoSuchVersion         = apiErr("NoSuchVersion", 404, "The specified version does not exist.")
	errNoSuchKey             = apiErr("NoSuchKey", 404, "The specified key does not exist.")
	errNoSuchTagSet          = apiErr("NoSuchTagSet", 404, "The TagSet does not exist")
	errNoSuchUpload          = apiErr("NoSuchUpload", 404, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	errNotImplemented        = apiErr("NotImplemented", 501, "A header or query you provided implies functionality that is not implemented.")
	errPreconditionFailed    = apiErr("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold")
	errSignatureDoesNotMatch = apiErr("SignatureDoesNotMatch", 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errInvalidAccessKeyID    = apiErr("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
	errTimeSkewed            = apiErr("RequestTimeTooSkewed", 403, "The difference between the request time and the server's time is too large.")
	errAuthHeaderMalformed   = apiErr("AuthorizationHeaderMalformed", 400, "The authorization header is malformed.")
	errAuthQueryMalformed    = apiErr("AuthorizationQueryParametersError", 400, "Error parsing the X-Amz-Credential parameter or another presigned query parameter.")
	errContentSHA256Mismatch = apiErr("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	errTooManyParts          = apiErr("InvalidArgument", 400, "Part number must be an integer between 1 and 10000, inclusive")
	errMalformedPolicyLike   = apiErr("InvalidArgument", 400, "Invalid Argument")
)

// toAPIError maps any error to the S3 error to answer with.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, ErrNoSuchBucket):
		return errNoSuchBucket
	case errors.Is(err, ErrNoSuchKey):
		return errNoSuchKey
	case errors.Is(err, ErrNoSuchUpload):
		return errNoSuchUpload
	case errors.Is(err, ErrBucketExists):
		return errBucketAlreadyOwned
	case errors.Is(err, ErrBucketNotEmpty):
		return errBucketNotEmpty
	case errors.Is(err, ErrInvalidPart):
		return errInvalidPart
	case errors.Is(err, ErrPreconditionFailed):
		return errPreconditionFailed
	case errors.Is(err, ErrKeyConflict):
		return errKeyConflict
	case errors.Is(err, ErrNoSuchVersion):
		return errNoSuchVersion

	case errors.Is(err, sigv4.ErrSignatureDoesNotMatch), errors.Is(err, sigv4.ErrChunkSignature):
		return errSignatureDoesNotMatch
	case errors.Is(err, sigv4.ErrInvalidAccessKeyID):
		return errInvalidAccessKeyID
	case errors.Is(err, sigv4.ErrTimeSkewed):
		return errTimeSkewed
	case errors.Is(err, sigv4.ErrExpired):
		return apiErr("AccessDenied", 403, "Request has expired")
	case errors.Is(err, sigv4.ErrNotYetValid):
		return apiErr("AccessDenied", 403, "Request is not valid yet")
	case errors.Is(err, sigv4.ErrUnsignedHeaders):
		return apiErr("AccessDenied", 403, "There were headers present in the request which were not signed")
	case errors.Is(err, sigv4.ErrMalformedAuth):
		return errAuthHeaderMalformed
	case errors.Is(err, sigv4.ErrMalformedPresign):
		return errAuthQueryMalformed
	case errors.Is(err, sigv4.ErrUnsupportedAuth):
		return apiErr("InvalidRequest", 400, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	case errors.Is(err, sigv4.ErrMissingContentSHA256):
		return apiErr("InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256")
	case errors.Is(err, sigv4.ErrInvalidContentSHA256):
		return apiErr("InvalidArgument", 400, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value.")
	case errors.Is(err, sigv4.ErrContentSHA256Mismatch):
		return errContentSHA256Mismatch
	case errors.Is(err, sigv4.ErrIncompleteBody), errors.Is(err, sigv4.ErrMalformedChunk):
		return errIncompleteBody
	case errors.Is(err, sigv4.ErrMissingDecodedLength):
		return errMissingContentLength
	case errors.Is(err, sigv4.ErrInvalidChecksum):
		return apiErr("BadDigest", 400, "The x-amz-checksum header value is not a valid checksum of its algorithm.")
	case errors.Is(err, sigv4.ErrMultipleChecksums):
		return apiErr("InvalidRequest", 400, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	case errors.Is(err, sigv4.ErrMissingDate):
		return apiErr("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header")
	case errors.Is(err, sigv4.ErrExpiresRange):
		return apiErr("AccessDenied", 403, "X-Amz-Expires must be less than a week (in seconds) that is 604800, and at least 1")
	case errors.Is(err, sigv4.ErrBadChecksum):
		return apiErr("BadDigest", 400, "The checksum you specified did not match the calculated checksum.")

	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apiErr("RequestTimeout", 400, "Your socket connection to the server was not read from or written to within the timeout period.")
	}
	switch fserr.KindOf(err) {
	case fserr.NotExist, fserr.NotFound:
		return errNoSuchKey
	case fserr.Permission, fserr.NotPermitted, fserr.ReadOnly:
		return errAccessDenied
	case fserr.NotDir, fserr.IsDir:
		return errKeyConflict
	case fserr.Exist:
		return errPreconditionFailed
	case fserr.NotEmpty:
		return errBucketNotEmpty
	case fserr.NameTooLong:
		return errKeyTooLong
	case fserr.Invalid:
		return errInvalidArgument
	case fserr.TooBig:
		return errEntityTooLarge
	case fserr.NotSupported:
		return errNotImplemented
	case fserr.Conflict, fserr.Busy:
		return apiErr("SlowDown", http.StatusServiceUnavailable, "Please reduce your request rate.")
	case fserr.NoSpace:
		return apiErr("ServiceUnavailable", http.StatusServiceUnavailable, "No space left.")
	}
	return errInternal
}

// withMsg copies a table error with a more specific message.
func withMsg(e *apiError, msg string) *apiError {
	c := *e
	c.Message = msg
	return &c
}
