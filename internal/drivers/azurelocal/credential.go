package azurelocal

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// simCloud is the cloud configuration of the embedded simulated Azure Local
// at base (https://127.0.0.1:PORT): ARM and the authority are the sim.
func simCloud(base string) cloud.Configuration {
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: base + "/",
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: base, Audience: "https://management.azure.com"},
		},
	}
}

// simTransport trusts only the sim's CA (the PEM file under the state dir):
// the sim's certificate is never trusted for anything else, and nothing
// but the sim is trusted by this transport.
func simTransport(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("azurelocal: the simulated Azure Local's CA: %w (is `tlreconcile sim serve` or the embedded sim running on this state dir?)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("azurelocal: %s holds no PEM certificate", caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

// simCredential is a client-secret credential against the sim's token
// endpoint: the same azidentity code path as a service principal on Azure.
// Instance discovery is off because MSAL would ask login.microsoftonline.com
// whether the sim is an authority.
func simCredential(c cloud.Configuration, tenant string, tr *http.Client) (azcore.TokenCredential, error) {
	return azidentity.NewClientSecretCredential(tenant, "tlreconcile", "sim-client-secret",
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: c, Transport: tr},
			DisableInstanceDiscovery: true,
		})
}

// cloudByName is the sovereign cloud an Azure Local cluster's `azure.cloud`
// names ("" is public Azure).
func cloudByName(name string) (cloud.Configuration, error) {
	switch name {
	case "", "AzurePublic", "AzureCloud":
		return cloud.AzurePublic, nil
	case "AzureGovernment", "AzureUSGovernment":
		return cloud.AzureGovernment, nil
	case "AzureChina", "AzureChinaCloud":
		return cloud.AzureChina, nil
	}
	return cloud.Configuration{}, errors.New(`azure.cloud must be AzurePublic, AzureGovernment or AzureChina`)
}

// defaultCredential is DefaultAzureCredential for cloud c: environment,
// workload identity, managed identity, Azure CLI, Azure Developer CLI.
func defaultCredential(c cloud.Configuration) (azcore.TokenCredential, error) {
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: c},
	})
	if err != nil {
		return nil, fmt.Errorf("azurelocal: no Azure credential: %w; set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or a workload identity), or run `az login`", err)
	}
	return cred, nil
}
