package ecs

// The ECS fields the mappings set.
const (
	pTimestamp                             slot = iota // @timestamp
	pEcsVersion                                        // ecs.version
	pEventKind                                         // event.kind
	pEventCategory                                     // event.category
	pEventType                                         // event.type
	pEventDataset                                      // event.dataset
	pEventModule                                       // event.module
	pEventId                                           // event.id
	pEventCreated                                      // event.created
	pEventSeverity                                     // event.severity
	pEventAction                                       // event.action
	pEventReason                                       // event.reason
	pEventProvider                                     // event.provider
	pEventUrl                                          // event.url
	pMessage                                           // message
	pTags                                              // tags
	pHostHostname                                      // host.hostname
	pHostName                                          // host.name
	pHostId                                            // host.id
	pHostDomain                                        // host.domain
	pHostOsName                                        // host.os.name
	pHostOsVersion                                     // host.os.version
	pHostIp                                            // host.ip
	pHostMac                                           // host.mac
	pUserName                                          // user.name
	pUserDomain                                        // user.domain
	pUserEmail                                         // user.email
	pSourceIp                                          // source.ip
	pSourcePort                                        // source.port
	pDestinationIp                                     // destination.ip
	pDestinationDomain                                 // destination.domain
	pDestinationPort                                   // destination.port
	pDestinationGeoCountryIsoCode                      // destination.geo.country_iso_code
	pDnsQuestionName                                   // dns.question.name
	pProcessPid                                        // process.pid
	pProcessThreadId                                   // process.thread.id
	pProcessEntityId                                   // process.entity_id
	pProcessName                                       // process.name
	pProcessExecutable                                 // process.executable
	pProcessCommandLine                                // process.command_line
	pProcessHashSha256                                 // process.hash.sha256
	pProcessHashMd5                                    // process.hash.md5
	pProcessCodeSignatureSubjectName                   // process.code_signature.subject_name
	pProcessCodeSignatureStatus                        // process.code_signature.status
	pProcessParentName                                 // process.parent.name
	pProcessParentExecutable                           // process.parent.executable
	pProcessParentCommandLine                          // process.parent.command_line
	pProcessParentEntityId                             // process.parent.entity_id
	pProcessParentHashSha256                           // process.parent.hash.sha256
	pProcessParentHashMd5                              // process.parent.hash.md5
	pProcessParentCodeSignatureSubjectName             // process.parent.code_signature.subject_name
	pProcessParentCodeSignatureStatus                  // process.parent.code_signature.status
	pFilePath                                          // file.path
	pFileName                                          // file.name
	pFileHashSha256                                    // file.hash.sha256
	pFileHashMd5                                       // file.hash.md5
	pRegistryKey                                       // registry.key
	pRegistryValue                                     // registry.value
	pRegistryPath                                      // registry.path
	pRegistryDataStrings                               // registry.data.strings
	pThreatFramework                                   // threat.framework
	pThreatTacticId                                    // threat.tactic.id
	pThreatTacticName                                  // threat.tactic.name
	pThreatTechniqueId                                 // threat.technique.id
	pThreatTechniqueName                               // threat.technique.name
	pRelatedHosts                                      // related.hosts
	pRelatedIp                                         // related.ip
	pRelatedUser                                       // related.user
	pRelatedHash                                       // related.hash
	pPanwCortexXdr                                     // panw_cortex.xdr
	nSlots
)

// paths are the fields' dotted paths, by slot.
var paths = [nSlots]string{
	pTimestamp:                             "@timestamp",
	pEcsVersion:                            "ecs.version",
	pEventKind:                             "event.kind",
	pEventCategory:                         "event.category",
	pEventType:                             "event.type",
	pEventDataset:                          "event.dataset",
	pEventModule:                           "event.module",
	pEventId:                               "event.id",
	pEventCreated:                          "event.created",
	pEventSeverity:                         "event.severity",
	pEventAction:                           "event.action",
	pEventReason:                           "event.reason",
	pEventProvider:                         "event.provider",
	pEventUrl:                              "event.url",
	pMessage:                               "message",
	pTags:                                  "tags",
	pHostHostname:                          "host.hostname",
	pHostName:                              "host.name",
	pHostId:                                "host.id",
	pHostDomain:                            "host.domain",
	pHostOsName:                            "host.os.name",
	pHostOsVersion:                         "host.os.version",
	pHostIp:                                "host.ip",
	pHostMac:                               "host.mac",
	pUserName:                              "user.name",
	pUserDomain:                            "user.domain",
	pUserEmail:                             "user.email",
	pSourceIp:                              "source.ip",
	pSourcePort:                            "source.port",
	pDestinationIp:                         "destination.ip",
	pDestinationDomain:                     "destination.domain",
	pDestinationPort:                       "destination.port",
	pDestinationGeoCountryIsoCode:          "destination.geo.country_iso_code",
	pDnsQuestionName:                       "dns.question.name",
	pProcessPid:                            "process.pid",
	pProcessThreadId:                       "process.thread.id",
	pProcessEntityId:                       "process.entity_id",
	pProcessName:                           "process.name",
	pProcessExecutable:                     "process.executable",
	pProcessCommandLine:                    "process.command_line",
	pProcessHashSha256:                     "process.hash.sha256",
	pProcessHashMd5:                        "process.hash.md5",
	pProcessCodeSignatureSubjectName:       "process.code_signature.subject_name",
	pProcessCodeSignatureStatus:            "process.code_signature.status",
	pProcessParentName:                     "process.parent.name",
	pProcessParentExecutable:               "process.parent.executable",
	pProcessParentCommandLine:              "process.parent.command_line",
	pProcessParentEntityId:                 "process.parent.entity_id",
	pProcessParentHashSha256:               "process.parent.hash.sha256",
	pProcessParentHashMd5:                  "process.parent.hash.md5",
	pProcessParentCodeSignatureSubjectName: "process.parent.code_signature.subject_name",
	pProcessParentCodeSignatureStatus:      "process.parent.code_signature.status",
	pFilePath:                              "file.path",
	pFileName:                              "file.name",
	pFileHashSha256:                        "file.hash.sha256",
	pFileHashMd5:                           "file.hash.md5",
	pRegistryKey:                           "registry.key",
	pRegistryValue:                         "registry.value",
	pRegistryPath:                          "registry.path",
	pRegistryDataStrings:                   "registry.data.strings",
	pThreatFramework:                       "threat.framework",
	pThreatTacticId:                        "threat.tactic.id",
	pThreatTacticName:                      "threat.tactic.name",
	pThreatTechniqueId:                     "threat.technique.id",
	pThreatTechniqueName:                   "threat.technique.name",
	pRelatedHosts:                          "related.hosts",
	pRelatedIp:                             "related.ip",
	pRelatedUser:                           "related.user",
	pRelatedHash:                           "related.hash",
	pPanwCortexXdr:                         "panw_cortex.xdr",
}
