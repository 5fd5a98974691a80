package fakeroute53

import "encoding/xml"

// XML shapes of the Route 53 API 2013-04-01, as its API Reference documents
// them. Only the members the fake uses are present.

const xmlns = "https://route53.amazonaws.com/doc/2013-04-01/"

type xmlHostedZone struct {
	ID              string `xml:"Id"`
	Name            string `xml:"Name"`
	CallerReference string `xml:"CallerReference"`
	Config          struct {
		Comment     string `xml:"Comment,omitempty"`
		PrivateZone bool   `xml:"PrivateZone"`
	} `xml:"Config"`
	ResourceRecordSetCount int64 `xml:"ResourceRecordSetCount"`
}

type listHostedZonesByNameResponse struct {
	XMLName          xml.Name        `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListHostedZonesByNameResponse"`
	HostedZones      []xmlHostedZone `xml:"HostedZones>HostedZone"`
	DNSName          string          `xml:"DNSName,omitempty"`
	HostedZoneID     string          `xml:"HostedZoneId,omitempty"`
	IsTruncated      bool            `xml:"IsTruncated"`
	NextDNSName      string          `xml:"NextDNSName,omitempty"`
	NextHostedZoneID string          `xml:"NextHostedZoneId,omitempty"`
	MaxItems         int             `xml:"MaxItems"`
}

type getHostedZoneResponse struct {
	XMLName       xml.Name          `xml:"https://route53.amazonaws.com/doc/2013-04-01/ GetHostedZoneResponse"`
	HostedZone    xmlHostedZone     `xml:"HostedZone"`
	DelegationSet *xmlDelegationSet `xml:"DelegationSet,omitempty"`
	VPCs          []xmlVPC          `xml:"VPCs>VPC,omitempty"`
}

type xmlDelegationSet struct {
	NameServers []string `xml:"NameServers>NameServer"`
}

type xmlVPC struct {
	VPCRegion string `xml:"VPCRegion"`
	VPCID     string `xml:"VPCId"`
}

type xmlRRSet struct {
	Name          string    `xml:"Name"`
	Type          string    `xml:"Type"`
	SetIdentifier string    `xml:"SetIdentifier,omitempty"`
	TTL           *int64    `xml:"TTL,omitempty"`
	Records       []xmlRR   `xml:"ResourceRecords>ResourceRecord"`
	AliasTarget   *struct{} `xml:"AliasTarget,omitempty"`
}

// xmlRR is one ResourceRecord. (A "ResourceRecords>ResourceRecord>Value"
// path on a []string would put every Value in a single ResourceRecord.)
type xmlRR struct {
	Value string `xml:"Value"`
}

func (x *xmlRRSet) values() []string {
	out := make([]string, len(x.Records))
	for i, r := range x.Records {
		out[i] = r.Value
	}
	return out
}

func records(values []string) []xmlRR {
	out := make([]xmlRR, len(values))
	for i, v := range values {
		out[i] = xmlRR{Value: v}
	}
	return out
}

type listResourceRecordSetsResponse struct {
	XMLName        xml.Name   `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListResourceRecordSetsResponse"`
	RRSets         []xmlRRSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated    bool       `xml:"IsTruncated"`
	NextRecordName string     `xml:"NextRecordName,omitempty"`
	NextRecordType string     `xml:"NextRecordType,omitempty"`
	MaxItems       int        `xml:"MaxItems"`
}

type changeResourceRecordSetsRequest struct {
	XMLName xml.Name `xml:"ChangeResourceRecordSetsRequest"`
	Batch   *struct {
		Comment string      `xml:"Comment"`
		Changes []xmlChange `xml:"Changes>Change"`
	} `xml:"ChangeBatch"`
}

type xmlChange struct {
	Action string    `xml:"Action"`
	RRSet  *xmlRRSet `xml:"ResourceRecordSet"`
}

type xmlChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

type changeResourceRecordSetsResponse struct {
	XMLName    xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ChangeResourceRecordSetsResponse"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

type getChangeResponse struct {
	XMLName    xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ GetChangeResponse"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

// errorResponse is Route 53's error body. InvalidChangeBatch adds the list of
// problems in Messages.
type errorResponse struct {
	XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ErrorResponse"`
	Error   struct {
		Type     string   `xml:"Type"`
		Code     string   `xml:"Code"`
		Message  string   `xml:"Message"`
		Messages []string `xml:"Messages>Message,omitempty"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// bareBatchError is InvalidChangeBatch as a root element.
type bareBatchError struct {
	XMLName   xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ InvalidChangeBatch"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}
