package webhook

import (
	"testing"
	"time"
)

// Docker Hub's documented example payload (docs.docker.com, "Webhooks").
const dockerHubPush = `{
  "callback_url": "https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
  "push_data": {
    "pushed_at": 1417566161,
    "pusher": "trustedbuilder",
    "tag": "latest"
  },
  "repository": {
    "comment_count": 0,
    "date_created": 1417494799,
    "description": "",
    "dockerfile": "#\n# BUILD\u0009\u0009docker build -t svendowideit/apt-cacher .\n",
    "full_description": "Docker Hub based automated build from a GitHub repo",
    "is_official": false,
    "is_private": true,
    "is_trusted": true,
    "name": "testhook",
    "namespace": "svendowideit",
    "owner": "svendowideit",
    "repo_name": "svendowideit/testhook",
    "repo_url": "https://registry.hub.docker.com/u/svendowideit/testhook/",
    "star_count": 0,
    "status": "Active"
  }
}`

// Its canonical form: keys sorted, compact, strings re-escaped the way
// encoding/json writes them.
const dockerHubPushCanonical = `{"callback_url":"https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",` +
	`"push_data":{"pushed_at":1417566161,"pusher":"trustedbuilder","tag":"latest"},` +
	`"repository":{"comment_count":0,"date_created":1417494799,"description":"","dockerfile":"#\n# BUILD\t\tdocker build -t svendowideit/apt-cacher .\n",` +
	`"full_description":"Docker Hub based automated build from a GitHub repo","is_official":false,"is_private":true,"is_trusted":true,` +
	`"name":"testhook","namespace":"svendowideit","owner":"svendowideit","repo_name":"svendowideit/testhook",` +
	`"repo_url":"https://registry.hub.docker.com/u/svendowideit/testhook/","star_count":0,"status":"Active"}}`

func TestDecodeDockerHub(t *testing.T) {
	t.Parallel()
	official := `{"callback_url":"https://registry.hub.docker.com/u/library/nginx/hook/x/","push_data":{"pushed_at":1.417566161e+09,"pusher":"official","tag":"1.27-alpine","images":[]},` +
		`"repository":{"name":"nginx","namespace":"library","repo_name":"nginx","status":"Active"}}`
	officialCanonical := `{"callback_url":"https://registry.hub.docker.com/u/library/nginx/hook/x/","push_data":{"images":[],"pushed_at":1.417566161e+09,"pusher":"official","tag":"1.27-alpine"},` +
		`"repository":{"name":"nginx","namespace":"library","repo_name":"nginx","status":"Active"}}`
	cases := []struct {
		name string
		body string
		want Event
	}{
		{
			name: "documented payload",
			body: dockerHubPush,
			want: Event{ID: sha(dockerHubPushCanonical), Source: "dockerhub", Registry: "docker.io",
				Repository: "svendowideit/testhook", Tag: "latest", Action: Push, Time: time.Unix(1417566161, 0).UTC()},
		},
		{
			name: "official image, float pushed_at",
			body: official,
			want: Event{ID: sha(officialCanonical), Source: "dockerhub", Registry: "docker.io",
				Repository: "library/nginx", Tag: "1.27-alpine", Action: Push, Time: time.Unix(1417566161, 0).UTC()},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := DecodeDockerHub([]byte(tc.body))
			checkResult(t, res, err, []Event{tc.want}, 0)
		})
	}
}
