package s3

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
)

// Sub-resources a bucket or object carries in S3 whose configuration
// Shoal does not store. A request naming one is answered as S3 answers
// for a bucket where it was never set: a GET returns the empty
// configuration or the NoSuch…Configuration error S3 uses, a DELETE
// succeeds, and a PUT (which would need the feature) is NotImplemented.
// Never is such a request served as the plain action it would otherwise
// look like (a GET ?cors is no ListObjects).

// unconfigured is how S3 answers GET of a sub-resource never set: a body
// (status 200) or an error.
type unconfigured struct {
	name   string // the S3 action stem: Get<name>, Put<name>, Delete<name>
	empty  func(req *request) any
	err    *apiError
	delete bool // DELETE is an S3 action (answered 204)
}

func emptyXML(name string) func(*request) any {
	return func(*request) any { return emptyConfig{XMLName: xml.Name{Local: name}, Xmlns: s3NS} }
}

type emptyConfig struct {
	XMLName xml.Name
	Xmlns   string `xml:"xmlns,attr"`
}

// bucketSubresources are keyed by query parameter.
var bucketSubresources = map[string]unconfigured{
	"cors":              {name: "BucketCors", err: apiErr("NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"), delete: true},
	"policy":            {name: "BucketPolicy", err: apiErr("NoSuchBucketPolicy", 404, "The bucket policy does not exist"), delete: true},
	"policyStatus":      {name: "BucketPolicyStatus", err: apiErr("NoSuchBucketPolicy", 404, "The bucket policy does not exist")},
	"lifecycle":         {name: "BucketLifecycleConfiguration", err: apiErr("NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist"), delete: true},
	"encryption":        {name: "BucketEncryption", err: apiErr("ServerSideEncryptionConfigurationNotFoundError", 404, "The server side encryption configuration was not found"), delete: true},
	"website":           {name: "BucketWebsite", err: apiErr("NoSuchWebsiteConfiguration", 404, "The specified bucket does not have a website configuration"), delete: true},
	"replication":       {name: "BucketReplication", err: apiErr("ReplicationConfigurationNotFoundError", 404, "The replication configuration was not found"), delete: true},
	"object-lock":       {name: "ObjectLockConfiguration", err: apiErr("ObjectLockConfigurationNotFoundError", 404, "Object Lock configuration does not exist for this bucket")},
	"ownershipControls": {name: "BucketOwnershipControls", err: apiErr("OwnershipControlsNotFoundError", 404, "The bucket ownership controls were not found"), delete: true},
	"publicAccessBlock": {name: "PublicAccessBlock", err: apiErr("NoSuchPublicAccessBlockConfiguration", 404, "The public access block configuration was not found"), delete: true},
	"logging":           {name: "BucketLogging", empty: emptyXML("BucketLoggingStatus")},
	"notification":      {name: "BucketNotificationConfiguration", empty: emptyXML("NotificationConfiguration")},
	"accelerate":        {name: "BucketAccelerateConfiguration", empty: emptyXML("AccelerateConfiguration")},
	"requestPayment": {name: "BucketRequestPayment", empty: func(*request) any {
		return requestPaymentConfiguration{Xmlns: s3NS, Payer: "BucketOwner"}
	}},
	"versioning": {name: "BucketVersioning"},
	"acl":        {name: "BucketAcl"},
	// Listed (no id) these answer an empty list; one by id is NoSuchConfiguration.
	"analytics":           {name: "BucketAnalyticsConfiguration", delete: true},
	"inventory":           {name: "BucketInventoryConfiguration", delete: true},
	"metrics":             {name: "BucketMetricsConfiguration", delete: true},
	"intelligent-tiering": {name: "BucketIntelligentTieringConfiguration", delete: true},
}

// listResults name the empty List…Result of the id-keyed configurations.
var listResults = map[string]string{
	"analytics":           "ListBucketAnalyticsConfigurationResult",
	"inventory":           "ListInventoryConfigurationsResult",
	"metrics":             "ListMetricsConfigurationsResult",
	"intelligent-tiering": "ListBucketIntelligentTieringConfigurationsResult",
}

var errNoLockConfig = apiErr("InvalidRequest", 400, "Bucket is missing Object Lock Configuration")

var objectSubresources = map[string]unconfigured{
	"acl":        {name: "ObjectAcl"},
	"retention":  {name: "ObjectRetention", err: errNoLockConfig},
	"legal-hold": {name: "ObjectLegalHold", err: errNoLockConfig},
}

// notImplemented are sub-resources with no unconfigured answer: the
// request asks for work Shoal does not do.
var notImplemented = []string{"torrent", "restore", "select"}

// subresource picks the sub-resource a request names, if any, and its
// action. handled=false leaves the request to the plain routing.
func subresource(method string, rt route, q url.Values) (action string, handled bool, err *apiError) {
	for _, s := range notImplemented {
		if q.Has(s) {
			return "", true, errNotImplemented
		}
	}
	table := bucketSubresources
	if rt.Key != "" {
		table = objectSubresources
	}
	if rt.Bucket == "" {
		return "", false, nil
	}
	for qk, sr := range table {
		if !q.Has(qk) {
			continue
		}
		switch method {
		case http.MethodGet, http.MethodHead:
			if _, listed := listResults[qk]; listed && q.Get("id") == "" {
				return "List" + sr.name + "s", true, nil
			}
			return "Get" + sr.name, true, nil
		case http.MethodPut:
			return "Put" + sr.name, true, nil
		case http.MethodDelete:
			if sr.delete {
				return "Delete" + sr.name, true, nil
			}
		}
		return "", true, errMethodNotAllowed
	}
	return "", false, nil
}

// subresourceFor returns the table entry behind an action routed by
// subresource.
func subresourceFor(rt route, q url.Values) (string, unconfigured, bool) {
	table := bucketSubresources
	if rt.Key != "" {
		table = objectSubresources
	}
	for qk, sr := range table {
		if q.Has(qk) {
			return qk, sr, true
		}
	}
	return "", unconfigured{}, false
}

// serveUnconfigured answers a sub-resource request as S3 does where the
// configuration was never set, after checking the bucket (and object)
// exist. It reports false for an action it does not answer.
func (req *request) serveUnconfigured(ctx context.Context) (bool, error) {
	q := req.r.URL.Query()
	qk, sr, ok := subresourceFor(req.rt, q)
	if !ok {
		return false, nil
	}
	act := req.rt.Action
	switch {
	case act == "Get"+sr.name, act == "List"+sr.name+"s", act == "Delete"+sr.name:
	default:
		return false, nil
	}
	if req.rt.Key != "" {
		if _, err := req.g.be.HeadObject(ctx, req.id, req.rt.Bucket, req.rt.Key); err != nil {
			return true, err
		}
	} else if _, err := req.g.be.HeadBucket(ctx, req.id, req.rt.Bucket); err != nil {
		return true, err
	}
	switch {
	case act == "Delete"+sr.name:
		// Draining the body keeps a keep-alive connection usable.
		if _, err := drain(req.auth.Body); err != nil {
			return true, err
		}
		return true, req.noContent()
	case act == "List"+sr.name+"s":
		return true, req.writeXML(200, emptyList{XMLName: xml.Name{Local: listResults[qk]}, Xmlns: s3NS})
	case sr.empty != nil:
		return true, req.writeXML(200, sr.empty(req))
	case sr.err != nil:
		return true, sr.err
	}
	return true, apiErr("NoSuchConfiguration", 404, "The specified configuration does not exist.")
}

type emptyList struct {
	XMLName     xml.Name
	Xmlns       string `xml:"xmlns,attr"`
	IsTruncated bool
}

type requestPaymentConfiguration struct {
	XMLName xml.Name `xml:"RequestPaymentConfiguration"`
	Xmlns   string   `xml:"xmlns,attr"`
	Payer   string
}

// accessControlPolicy is S3's ACL document.
type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner
	Grants  []grantXML `xml:"AccessControlList>Grant"`
}

type grantXML struct {
	Grantee    granteeXML
	Permission string
}

type granteeXML struct {
	XMLNS       string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:",omitempty"`
	DisplayName string `xml:",omitempty"`
	URI         string `xml:",omitempty"`
	// EmailAddress is only read, to refuse grants by e-mail.
	EmailAddress string `xml:",omitempty"`
}
